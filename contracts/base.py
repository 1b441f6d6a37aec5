"""Shared base for every message on the bus."""

from __future__ import annotations

import functools
import os
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from contracts.version import SCHEMA_MAJOR, SCHEMA_VERSION
from contracts.wire import on_wire

SCHEMA_VERSION_PATTERN = f"^{SCHEMA_MAJOR}\\.(0|[1-9][0-9]*)$"
_SCHEMA_VERSION = re.compile(SCHEMA_VERSION_PATTERN)


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits, as `uuid.uuid4().hex` gives it, without
    the UUID object: one is made for every event and every reply, and this costs a third."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # variant: RFC 4122
    return raw.hex()


def utcnow() -> datetime:
    return datetime.now(UTC)


def _wire_schema(schema: dict[str, Any], cls: type[Message]) -> None:
    # The schema describes the wire: what a receiver would otherwise invent is required there.
    required = list(schema.get("required", []))
    for name in cls.wire_required():
        schema["properties"][name].pop("default", None)
        if name not in required:
            required.append(name)
    schema["required"] = required


class Message(BaseModel):
    """Frozen, versioned; unknown fields are ignored so minor versions can add fields.

    Built in Python, a message gets its type, version, id and times by default. Read off
    the bus (the WIRE validation context), it must carry them: a receiver that made up an
    event id could not tell a redelivery from a new event, nor a time how old it is.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_extra=_wire_schema)

    # Fields with these default factories are required on the wire.
    _INVENTED: ClassVar[tuple[object, ...]] = (new_id, utcnow)

    schema_version: str = Field(
        default=SCHEMA_VERSION,
        description="Major.minor; consumers reject another major.",
        json_schema_extra={"pattern": SCHEMA_VERSION_PATTERN},
    )

    @classmethod
    def wire_required(cls) -> tuple[str, ...]:
        """Fields a message read off the bus must carry although Python fills them in."""
        return _wire_required(cls)

    @model_validator(mode="before")
    @classmethod
    def _carried_on_the_wire(cls, data: Any, info: ValidationInfo) -> Any:
        if on_wire(info) and isinstance(data, dict):
            missing = [name for name in cls.wire_required() if name not in data]
            if missing:
                raise ValueError(f"missing required field(s): {', '.join(missing)}")
        return data

    @field_validator("schema_version")
    @classmethod
    def _same_major(cls, value: str) -> str:
        if value != SCHEMA_VERSION and not _SCHEMA_VERSION.fullmatch(value):
            raise ValueError(
                f"unsupported schema version {value!r}: this service speaks {SCHEMA_VERSION}"
            )
        return value


@functools.cache
def _wire_required(cls: type[Message]) -> tuple[str, ...]:
    # Asked on every message read off the bus; a class's fields are fixed once it is built.
    return tuple(
        name
        for name, field in cls.model_fields.items()
        if name in ("type", "schema_version") or field.default_factory in cls._INVENTED
    )
