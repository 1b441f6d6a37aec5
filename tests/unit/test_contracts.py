"""The wire contracts: what is accepted, what is refused, and with which reason."""

from __future__ import annotations

import contextlib
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import (
    CallEnded,
    CallStarted,
    InvalidKey,
    KeyPress,
    Reply,
    Say,
    key_routing_key,
    normalize_key,
    parse_event,
    parse_reply,
)
from contracts.base import new_id
from contracts.keys import KEYS, key_of_word, routing_word
from contracts.schemas import SCHEMA_DIR, generate


def press(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "key_press",
        "schema_version": "1.0",
        "event_id": "e1",
        "call_id": "c1",
        "reply_to": "edge-a",
        "source": "simulator",
        "key": "1",
        "sequence": 1,
        "pressed_at": "2026-01-01T00:00:00Z",
        "received_at": "2026-01-01T00:00:00.200Z",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (0, "0"),
        ("0", "0"),
        (7, "7"),
        ("*", "*"),
        ("star", "*"),
        ("#", "#"),
        ("hash", "#"),
        ("a", "A"),
        ("D", "D"),
        (" 5 ", "5"),
    ],
)
def test_normalize_key_accepts_what_sources_send(raw: object, key: str) -> None:
    assert normalize_key(raw) == key


@pytest.mark.parametrize("raw", [10, -1, "", "E", "12", None, True, 1.5, "**"])
def test_normalize_key_refuses_non_keys(raw: object) -> None:
    with pytest.raises(InvalidKey, match="invalid DTMF key"):
        normalize_key(raw)


def test_routing_words_avoid_amqp_wildcards() -> None:
    words = [routing_word(key) for key in KEYS]
    assert words == [*"0123456789", "star", "hash", "a", "b", "c", "d"]
    assert all("*" not in w and "#" not in w for w in words)
    assert [key_of_word(w) for w in words] == list(KEYS)
    assert key_routing_key("*") == "dtmf.star"
    assert key_routing_key("0") == "dtmf.0"


def test_key_press_round_trips_and_keeps_zero() -> None:
    # A source reports 0 as a number; the model normalizes it, the wire carries "0".
    built = KeyPress.model_validate(press(key=0))
    assert json.loads(built.model_dump_json())["key"] == "0"
    event = parse_event(built.model_dump_json())
    assert isinstance(event, KeyPress)
    assert event.key == "0"
    assert event.routing_key == "dtmf.0"
    assert parse_event(event.model_dump_json()) == event


def test_lifecycle_events_route_outside_the_key_space() -> None:
    started = CallStarted(call_id="c", reply_to="e", source="simulator")
    ended = CallEnded(call_id="c", reply_to="e", source="simulator", reason="hangup")
    assert started.routing_key == "call.started"
    assert ended.routing_key == "call.ended"
    assert isinstance(parse_event(started.model_dump_json()), CallStarted)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (press(key="Z"), "invalid DTMF key"),
        (press(schema_version="2.0"), "unsupported schema version"),
        (press(schema_version="1.01"), "unsupported schema version"),
        (press(schema_version="1.1 "), "unsupported schema version"),
        ({k: v for k, v in press().items() if k != "reply_to"}, "reply_to"),
        ({k: v for k, v in press().items() if k != "call_id"}, "call_id"),
        (press(sequence=0), "sequence"),
        (press(type="key_release"), "type"),
    ],
)
def test_bad_events_are_refused_with_a_reason(body: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event(json.dumps(body))
    assert reason in str(info.value)


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.9", "1.12"])
def test_an_event_of_another_minor_version_is_read(version: str) -> None:
    assert parse_event(json.dumps(press(schema_version=version))).schema_version == version


def test_reply_actions_are_a_closed_set() -> None:
    reply = Reply(call_id="c", in_reply_to="e", service="sales", actions=[Say(text="hi")])
    assert parse_reply(reply.model_dump_json()) == reply
    body = json.loads(reply.model_dump_json())
    body["actions"] = [{"action": "dance", "style": "tango"}]
    with pytest.raises(ValidationError, match="dance"):
        parse_reply(json.dumps(body))
    body["actions"] = []
    with pytest.raises(ValidationError, match="at least 1"):
        parse_reply(json.dumps(body))


def test_committed_json_schemas_match_the_models() -> None:
    for name, text in generate().items():
        committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} drifted: run `make schemas` and commit"


def test_schemas_describe_every_message_type() -> None:
    event_schema = json.loads((SCHEMA_DIR / "event.schema.json").read_text())
    assert set(event_schema["discriminator"]["mapping"]) == {
        "key_press",
        "call_started",
        "call_ended",
        "gathered_input",
    }
    reply_schema = json.loads((SCHEMA_DIR / "reply.schema.json").read_text())
    assert set(reply_schema["$defs"]) >= {"Say", "SetInstructions", "Transfer", "Hangup", "Gather"}


@given(st.binary(max_size=512))
def test_arbitrary_bytes_are_refused_cleanly(body: bytes) -> None:
    with contextlib.suppress(ValidationError):
        parse_event(body)


@given(st.one_of(st.integers(), st.text(max_size=4)))
def test_keys_normalize_or_raise_invalid_key(raw: object) -> None:
    try:
        key = normalize_key(raw)
    except InvalidKey:
        return
    assert key in KEYS
    assert normalize_key(routing_word(key)) == key


def test_ids_are_random_uuids_in_hex_and_never_repeat() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for made in ids[:100]:
        parsed = uuid.UUID(hex=made)
        assert (parsed.hex, parsed.version, parsed.variant) == (made, 4, uuid.RFC_4122)
