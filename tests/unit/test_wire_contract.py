"""What a message read off the bus must be (issue 14): each defect an outside client hit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from contracts import KeyPress, Reply, Say, parse_event, parse_reply
from contracts.base import utcnow
from contracts.control import ServiceAnnouncement, parse_announcement
from contracts.events import GatheredInput
from contracts.replies import Gather
from contracts.wire import content_type_problem
from services.runtime.amqp.runner import describe_validation_error
from services.runtime.dispatch import Dispatcher
from services.runtime.outcomes import Expired
from services.runtime.service import ConsumerService, keys
from tests.unit.test_contracts import press


def without(body: dict[str, object], name: str) -> dict[str, object]:
    return {k: v for k, v in body.items() if k != name}


def refusal(body: dict[str, object]) -> str:
    """The reason the runner would dead-letter this body with."""
    with pytest.raises(ValidationError) as info:
        parse_event(json.dumps(body))
    return describe_validation_error(info.value)


# --- timestamps -------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["pressed_at", "received_at"])
def test_a_timestamp_without_offset_is_refused_with_its_reason(field: str) -> None:
    reason = refusal(press(**{field: "2026-01-01T00:00:00"}))
    assert field in reason
    assert "has no UTC offset" in reason


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01 00:00:00Z",  # not RFC 3339's T
        "2026-01-01T00:00Z",  # no seconds
        "2026-01-01T00:00:00+0100",  # offset without colon
        "2026-02-30T00:00:00Z",  # no such day
        1767225600,  # epoch seconds: a number, not a date-time string
    ],
)
def test_timestamps_are_rfc3339_only(value: object) -> None:
    assert "pressed_at" in refusal(press(pressed_at=value))


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00+01:00",
        "2026-01-01T00:00:00.123456789Z",  # Go's RFC3339Nano
        "2025-12-31T19:00:00.5-05:00",
    ],
)
def test_rfc3339_timestamps_with_an_offset_are_accepted(value: str) -> None:
    event = parse_event(json.dumps(press(pressed_at=value)))
    assert isinstance(event, KeyPress)
    assert event.pressed_at.utcoffset() is not None


def test_a_naive_datetime_is_refused_in_python_too() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        KeyPress.model_validate(press(pressed_at=datetime(2026, 1, 1)))


@pytest.mark.parametrize(
    ("offset", "written"),
    [
        (timedelta(seconds=30), "2025-12-31T23:59:30Z"),
        (timedelta(seconds=-30), "2026-01-01T00:00:30Z"),
        (timedelta(hours=-3, minutes=-30, microseconds=-1), "2026-01-01T03:30:00.000001Z"),
    ],
)
def test_an_offset_with_seconds_is_kept_as_the_same_instant_in_utc(
    offset: timedelta, written: str
) -> None:
    odd = datetime(2026, 1, 1, tzinfo=timezone(offset))
    built = KeyPress.model_validate(press(pressed_at=odd))
    assert built.pressed_at == odd
    assert json.loads(built.model_dump_json())["pressed_at"] == written


@pytest.mark.parametrize(
    ("offset", "written"),
    [
        (timedelta(hours=5, minutes=30), "2026-01-01T00:00:00+05:30"),
        (timedelta(hours=-3, minutes=-30), "2026-01-01T00:00:00-03:30"),
    ],
)
def test_an_offset_in_whole_minutes_is_kept_as_it_is(offset: timedelta, written: str) -> None:
    built = KeyPress.model_validate(press(pressed_at=datetime(2026, 1, 1, tzinfo=timezone(offset))))
    assert json.loads(built.model_dump_json())["pressed_at"] == written


# --- fields required on the wire --------------------------------------------------------


@pytest.mark.parametrize("field", ["event_id", "type", "schema_version", "received_at"])
def test_a_press_without_a_wire_field_is_refused(field: str) -> None:
    assert field in refusal(without(press(), field))


def test_python_still_fills_in_ids_and_times() -> None:
    built = KeyPress(
        call_id="c", reply_to="e", source="simulator", key=0, sequence=1, pressed_at=utcnow()
    )
    wire = json.loads(built.model_dump_json())
    assert {"event_id", "type", "schema_version", "received_at"} <= set(wire)
    assert wire["key"] == "0"
    assert parse_event(built.model_dump_json()) == built


def test_a_reply_without_its_id_or_type_is_refused() -> None:
    reply = json.loads(
        Reply(call_id="c", in_reply_to="e", service="s", actions=[Say(text="hi")]).model_dump_json()
    )
    for field in ("reply_id", "type", "sent_at"):
        with pytest.raises(ValidationError, match=field):
            parse_reply(json.dumps(without(reply, field)))


def test_an_announcement_without_its_instance_is_refused() -> None:
    body = json.loads(
        ServiceAnnouncement(service="billing", label="Billing", keys=["3"]).model_dump_json()
    )
    assert parse_announcement(json.dumps(body)).keys == ["3"]
    with pytest.raises(ValidationError, match="instance"):
        parse_announcement(json.dumps(without(body, "instance")))


# --- keys: canonical on the wire --------------------------------------------------------


@pytest.mark.parametrize("raw", [0, "star", "hash", "a", " 5 ", "Z"])
def test_the_wire_carries_canonical_keys_only(raw: object) -> None:
    assert "invalid DTMF key" in refusal(press(key=raw))


def test_gathered_digits_and_finish_keys_are_canonical_on_the_wire() -> None:
    gathered = GatheredInput(
        call_id="c",
        reply_to="e",
        source="simulator",
        name="pin",
        digits="12a",  # normalized when built in Python
        reason="finish_key",
        sequence=4,
        started_at=utcnow(),
    )
    body = json.loads(gathered.model_dump_json())
    assert body["digits"] == "12A"
    body["digits"] = "12a"
    with pytest.raises(ValidationError, match="digits"):
        parse_event(json.dumps(body))

    reply = json.loads(
        Reply(
            call_id="c", in_reply_to="e", service="s", actions=[Gather(name="pin")]
        ).model_dump_json()
    )
    reply["actions"][0]["finish_key"] = "hash"
    with pytest.raises(ValidationError, match="invalid DTMF key"):
        parse_reply(json.dumps(reply))


# --- content types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,  # documented: read as JSON
        "",
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; profile=dtmf-bus",
    ],
)
def test_json_media_types_are_accepted_with_parameters(content_type: str | None) -> None:
    assert content_type_problem(content_type) is None


@pytest.mark.parametrize(
    ("content_type", "reason"),
    [
        ("text/plain", "wrong content type"),
        ("application/octet-stream", "wrong content type"),
        ("application/jsonx", "wrong content type"),
        ("application/json; charset=iso-8859-1", "wrong charset"),
    ],
)
def test_other_media_types_are_refused_with_a_reason(content_type: str, reason: str) -> None:
    problem = content_type_problem(content_type)
    assert problem is not None
    assert reason in problem


# --- staleness --------------------------------------------------------------------------


def interactive() -> Dispatcher:
    async def answer(event: KeyPress) -> list[Say]:
        return [Say(text="hi")]

    async def send(reply: Reply, edge_id: str) -> None:
        return None

    service = ConsumerService(name="sales", bindings=keys("1"), handler=answer)
    return Dispatcher(service, send_reply=send, max_age=timedelta(seconds=5))


def aged(*, pressed_s: float, received_s: float) -> KeyPress:
    now = datetime.now(UTC)
    return KeyPress(
        call_id="c",
        reply_to="e",
        source="videosdk",
        key="1",
        sequence=1,
        pressed_at=now - timedelta(seconds=pressed_s),
        received_at=now - timedelta(seconds=received_s),
    )


async def test_a_press_an_hour_old_is_stale_though_received_just_now() -> None:
    old = aged(pressed_s=3600, received_s=0)
    assert old.age(utcnow()) >= timedelta(hours=1)
    with pytest.raises(Expired, match="expired: press waited 3600"):
        await interactive()(old)


async def test_a_source_clock_ahead_does_not_make_a_press_younger() -> None:
    with pytest.raises(Expired):
        await interactive()(aged(pressed_s=-60, received_s=10))


async def test_a_fresh_press_is_answered() -> None:
    assert await interactive()(aged(pressed_s=0.3, received_s=0.1)) == "replied"


def test_min_digits_above_max_is_a_python_error_but_not_a_wire_refusal() -> None:
    # JSON Schema can't compare two fields: the schema admits it, so the edge must too.
    with pytest.raises(ValidationError, match="min_digits 5 > max_digits 4"):
        Gather(name="pin", min_digits=5, max_digits=4)
    reply = json.loads(
        Reply(
            call_id="c", in_reply_to="e", service="s", actions=[Gather(name="pin")]
        ).model_dump_json()
    )
    reply["actions"][0].update(min_digits=5, max_digits=4)
    assert parse_reply(json.dumps(reply)).actions[0] == Gather.model_construct(
        name="pin", min_digits=5, max_digits=4
    )
