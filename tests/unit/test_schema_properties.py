"""The published JSON Schemas and the models accept the same messages (issue 14).

One way: any message valid against a schema (generated from it: tests/unit/schema_strategy) is
accepted by the service's parser, so a client written from the schemas is never refused
for its shape. The other way: whatever the models let a Python producer build serializes
to a message valid against the schemas, `format` included. Example counts stay modest so
`make test` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel

from contracts import KEYS, parse_event, parse_reply
from contracts.control import ServiceAnnouncement, parse_announcement
from contracts.events import CallEnded, CallStarted, GatheredInput, KeyPress
from contracts.replies import (
    Gather,
    Hangup,
    Reply,
    Say,
    SendDigits,
    SetInstructions,
    Transfer,
)
from contracts.schemas import SCHEMA_DIR
from tests.unit.schema_strategy import from_schema, json_values

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
    return loaded


def validator(name: str) -> Draft202012Validator:
    checker = FormatChecker()
    # Without rfc3339-validator installed jsonschema skips date-time silently.
    assert "date-time" in checker.checkers, "install rfc3339-validator (dev dependency)"
    return Draft202012Validator(schema(name), format_checker=checker)


PARSERS: dict[str, Callable[[str], BaseModel]] = {
    "event": parse_event,
    "reply": parse_reply,
    "announcement": parse_announcement,
}


# --- schema -> model --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_schema_valid_message_is_accepted(name: str) -> None:
    check = validator(name)

    @PROPERTY
    @given(from_schema(schema(name)))
    def accepted(message: dict[str, Any]) -> None:
        check.validate(message)  # the generator's own check
        PARSERS[name](json.dumps(message))

    accepted()


# --- model -> schema --------------------------------------------------------------------

text = st.text(min_size=1, max_size=40)
maybe_text = st.none() | text
# Every spelling a Python producer may pass: the model normalizes it.
raw_keys = st.sampled_from(KEYS) | st.integers(0, 9) | st.sampled_from(["star", "hash", "a", "d"])
# Seconds in an offset too: the model keeps such an instant in UTC (RFC 3339 has no spelling).
offsets = st.integers(-86399, 86399).map(lambda s: timezone(timedelta(seconds=s)))
instants = st.datetimes(
    min_value=datetime(1000, 1, 2),  # naive bounds: hypothesis adds the zones
    max_value=datetime(9999, 12, 30),
    timezones=st.just(UTC) | offsets,
)
names = st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True)

call = {"call_id": text, "reply_to": text, "source": text}
events = st.one_of(
    st.builds(
        KeyPress,
        **call,
        key=raw_keys,
        sequence=st.integers(1, 2**40),
        pressed_at=instants,
        received_at=instants,
        duration_ms=st.none() | st.integers(0, 10_000),
        source_message_id=maybe_text,
        participant_id=maybe_text,
        source_payload=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
        collecting=st.none() | names,
    ),
    st.builds(CallStarted, **call, started_at=instants, caller=maybe_text),
    st.builds(CallEnded, **call, ended_at=instants, reason=text),
    st.builds(
        GatheredInput,
        **call,
        name=names,
        digits=st.lists(st.sampled_from([*KEYS, "a", "d"]), max_size=64).map("".join),
        reason=st.sampled_from(["finish_key", "max_digits", "inter_digit_timeout", "timeout"]),
        sequence=st.integers(1, 1000),
        started_at=instants,
        ended_at=instants,
    ),
)


@st.composite
def gathers(draw: st.DrawFn) -> Gather:
    low = draw(st.integers(0, 64))
    return Gather(
        name=draw(names),
        prompt=draw(st.none() | st.text(max_size=50)),
        min_digits=low,
        max_digits=draw(st.integers(max(low, 1), 64)),
        finish_key=draw(st.none() | raw_keys),
        inter_digit_timeout_s=draw(st.floats(0.01, 120)),
        timeout_s=draw(st.floats(0.01, 600)),
        barge_in=draw(st.booleans()),
    )


actions = st.one_of(
    st.builds(Say, text=text),
    st.builds(SetInstructions, instructions=text),
    st.builds(Transfer, to=text),
    st.builds(Hangup, reason=text),
    gathers(),
    st.builds(
        SendDigits,
        digits=st.text(alphabet="0123456789*#ABCDw", min_size=1, max_size=64),
        tone_ms=st.integers(40, 1000),
        gap_ms=st.integers(40, 1000),
    ),
)
replies = st.builds(
    Reply,
    call_id=text,
    in_reply_to=text,
    sequence=st.none() | st.integers(1, 2**40),
    service=text,
    sent_at=instants,
    actions=st.lists(actions, min_size=1, max_size=4),
)
announcements = st.builds(
    ServiceAnnouncement,
    service=text,
    label=text,
    keys=st.lists(raw_keys, max_size=5),
    inputs=st.lists(names, max_size=3),
    status=st.sampled_from(["up", "down"]),
    valid_for_s=st.floats(0.1, 1000),
)
BUILT = {"event": events, "reply": replies, "announcement": announcements}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_built_message_is_schema_valid(name: str) -> None:
    check = validator(name)

    @PROPERTY
    @given(BUILT[name])
    def valid(message: BaseModel) -> None:
        wire = message.model_dump_json()
        check.validate(json.loads(wire))
        assert PARSERS[name](wire) == message

    valid()
