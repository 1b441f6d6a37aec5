"""Timestamps on the wire: RFC 3339 date-times with a UTC offset, nothing looser.

A naive time can't be compared with the services' aware clocks (that once crashed a
handler on every delivery), so it is refused where the message is read, with a reason.
The schema carries the same pattern as the model, beside `format: date-time`, because many
JSON Schema validators treat `format` as a mere annotation: with the pattern they all refuse
a time without an offset. The pattern avoids look-arounds, which Go's regexp lacks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema

_YEAR = "([0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"  # not 0000
_DATE = _YEAR + "-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?"  # no leap second: Python has none
_OFFSET = "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
TIMESTAMP_PATTERN = f"^{_DATE}T{_TIME}{_OFFSET}$"
_TIMESTAMP = re.compile(f"{_DATE}T{_TIME}{_OFFSET}")
_NAIVE = re.compile(f"{_DATE}[Tt ]{_TIME}")

EXAMPLE = "2026-01-01T12:00:00.250Z"


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):  # built in Python: awareness is checked next
        return value
    if not isinstance(value, str):
        raise ValueError(f"a timestamp is an RFC 3339 string such as {EXAMPLE}")
    if _TIMESTAMP.fullmatch(value):
        return value
    if _NAIVE.fullmatch(value):
        raise ValueError(f"timestamp {value!r} has no UTC offset: add Z or +hh:mm")
    raise ValueError(f"timestamp {value!r} is not an RFC 3339 date-time such as {EXAMPLE}")


def _whole_minutes(value: datetime) -> datetime:
    # Only reachable from Python (a historical zone, a source's odd offset): an offset in
    # seconds has no RFC 3339 spelling, so the same instant is kept in UTC instead.
    offset = value.utcoffset()
    # Whole minutes read from its parts (a negative offset is -1 day plus seconds, and a
    # day is whole minutes): this runs on every timestamp read off the bus.
    if offset and (offset.seconds % 60 or offset.microseconds):
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value} is out of range in UTC") from None
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_whole_minutes),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]
