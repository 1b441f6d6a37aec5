"""The `send_digits` reply action: its contract, and the edge playing or refusing it.

The session here records what it was asked to play; the tones themselves are checked in
test_outbound_tones.py (multimon-ng, the detector) and test_videosdk_digits.py (the real
audio track).
"""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from contracts.replies import Gather, Reply, Say, SendDigits, Transfer, parse_reply
from contracts.schemas import SCHEMA_DIR
from services.edge.calls import Call
from services.edge.edge import Edge
from services.edge.simulator import SimulatedSession
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome
from services.runtime.transfers import TransferAllowlist
from tests.fakes import RecordingPublisher
from tests.support import RecordingSession

REPLY_SCHEMA = Draft202012Validator(json.loads((SCHEMA_DIR / "reply.schema.json").read_text()))


class DialingSession(RecordingSession):
    """A session that plays tones: what it played, in order with what it said."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.timings: list[tuple[int, int]] = []

    async def say(self, text: str) -> None:
        self.log.append(f"say {text}")
        await super().say(text)

    async def transfer(self, to: str) -> None:
        self.log.append(f"transfer {to}")

    async def send_digits(self, digits: str, *, tone_ms: int, gap_ms: int) -> None:
        self.log.append(f"digits {digits}")
        self.timings.append((tone_ms, gap_ms))


def new_edge() -> Edge:
    return Edge(
        edge_id="edge-a",
        publisher=RecordingPublisher(),
        metrics=Metrics(),
        transfer_allow=TransferAllowlist.parse("+15550100"),
    )


async def answer(edge: Edge, call: Call, *actions: object) -> Outcome:
    press = (await edge.press(call, "1")).event
    reply = Reply.model_validate(
        {
            "call_id": call.call_id,
            "in_reply_to": press.event_id,
            "service": "banking",
            "actions": list(actions),
        }
    )
    return await edge.apply_reply(reply)


# --- the contract -------------------------------------------------------------------------


def test_defaults_are_a_dialers_100_ms_tones_and_gaps() -> None:
    action = SendDigits(digits="1234#")
    assert (action.tone_ms, action.gap_ms) == (100, 100)


def test_every_key_and_the_pause_are_accepted_on_the_wire() -> None:
    reply = Reply(call_id="c", in_reply_to="e", service="banking", actions=[Say(text="x")])
    body = reply.model_dump(mode="json") | {
        "actions": [{"action": "send_digits", "digits": "0123456789*#ABCDw", "tone_ms": 40}]
    }
    [action] = parse_reply(json.dumps(body)).actions
    assert action == SendDigits(digits="0123456789*#ABCDw", tone_ms=40, gap_ms=100)


def test_off_the_bus_a_bad_digit_is_refused_with_the_same_reason() -> None:
    reply = Reply(call_id="c", in_reply_to="e", service="banking", actions=[Say(text="x")])
    body = reply.model_dump(mode="json") | {"actions": [{"action": "send_digits", "digits": "1x"}]}
    with pytest.raises(ValidationError, match="digit 'x' at position 1 can't be sent"):
        parse_reply(json.dumps(body))


@pytest.mark.parametrize(
    ("digits", "says"),
    [
        ("12x4", "digit 'x' at position 2 can't be sent"),
        ("1 2", "digit ' ' at position 1"),
        ("a", "digit 'a' at position 0"),  # keys are upper case, like gathered digits
        ("", "at least 1 character"),
        ("1" * 65, "at most 64 characters"),
    ],
)
def test_digits_that_cant_be_sent_are_refused_naming_the_problem(digits: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        SendDigits(digits=digits)


@pytest.mark.parametrize("field", ["tone_ms", "gap_ms"])
@pytest.mark.parametrize(("value", "ok"), [(39, False), (40, True), (1000, True), (1001, False)])
def test_tone_and_gap_lengths_are_bounded(field: str, value: int, ok: bool) -> None:
    if ok:
        assert getattr(SendDigits.model_validate({"digits": "1", field: value}), field) == value
    else:
        with pytest.raises(ValidationError, match=field):
            SendDigits.model_validate({"digits": "1", field: value})


@settings(max_examples=60, deadline=None)
@given(
    digits=st.text(alphabet="0123456789*#ABCDw", min_size=1, max_size=64),
    tone_ms=st.integers(40, 1000),
    gap_ms=st.integers(40, 1000),
)
def test_every_send_digits_a_service_builds_is_valid_against_the_committed_schema(
    digits: str, tone_ms: int, gap_ms: int
) -> None:
    action = SendDigits(digits=digits, tone_ms=tone_ms, gap_ms=gap_ms)
    reply = Reply(call_id="c", in_reply_to="e", service="banking", actions=[action])
    wire = reply.model_dump_json()
    REPLY_SCHEMA.validate(json.loads(wire))
    assert parse_reply(wire) == reply


def test_the_committed_reply_schema_carries_the_action_and_its_bounds() -> None:
    schema = json.loads((SCHEMA_DIR / "reply.schema.json").read_text())
    send = schema["$defs"]["SendDigits"]
    assert send["required"] == ["action", "digits"]
    assert send["properties"]["digits"]["pattern"] == "^[0-9*#A-Dw]+$"
    assert send["properties"]["tone_ms"]["minimum"] == 40


# --- the edge -----------------------------------------------------------------------------


async def test_digits_play_in_order_with_the_replys_other_actions() -> None:
    edge = new_edge()
    session = DialingSession()
    call = await edge.start_call(session, source="videosdk")
    outcome = await answer(
        edge,
        call,
        Say(text="Connecting you"),
        SendDigits(digits="1w42#", tone_ms=60, gap_ms=80),
        Say(text="Done"),
    )
    assert outcome == Outcome.REPLIED
    assert session.log == ["say Connecting you", "digits 1w42#", "say Done"]
    assert session.timings == [(60, 80)]


async def test_a_transfer_then_an_extension_is_dialled_after_the_transfer() -> None:
    edge = new_edge()
    session = DialingSession()
    call = await edge.start_call(session, source="videosdk")
    await answer(edge, call, Transfer(to="+15550100"), SendDigits(digits="ww204"))
    assert session.log == ["transfer +15550100", "digits ww204"]


async def test_refused_while_the_caller_keys_in_input_and_the_rest_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    edge = new_edge()
    session = DialingSession()
    call = await edge.start_call(session, source="videosdk")
    await answer(edge, call, Gather(name="account"))
    assert call.gather is not None
    caplog.set_level(logging.WARNING, logger="services.edge.actions")
    # A reply to an earlier press, arriving while the gather is open.
    outcome = await answer(edge, call, SendDigits(digits="9999"), Say(text="Dialled"))
    assert outcome == Outcome.REPLIED  # handled, not a crash and not redelivered
    assert session.log == []
    assert call.gather is not None and call.gather.spec.name == "account"  # still collecting
    [record] = [r for r in caplog.records if "send_digits" in r.getMessage()]
    assert "refused" in record.getMessage() and "collecting input 'account'" in record.getMessage()
    assert "banking" in record.getMessage() and "9999" not in record.getMessage()
    refused = edge.metrics.actions_refused.labels("send_digits", "collecting_input")
    assert refused._value.get() == 1  # counted for the operator, by reason


async def test_refused_after_a_gather_earlier_in_the_same_reply() -> None:
    edge = new_edge()
    session = DialingSession()
    call = await edge.start_call(session, source="videosdk")
    await answer(edge, call, Gather(name="pin", prompt="Your PIN"), SendDigits(digits="1"))
    assert session.log == ["say Your PIN"]


async def test_digits_play_again_once_the_gather_has_ended() -> None:
    edge = new_edge()
    session = DialingSession()
    call = await edge.start_call(session, source="videosdk")
    await answer(edge, call, Gather(name="account", max_digits=1))
    await edge.press(call, "5")  # completes the input
    assert call.gather is None
    await answer(edge, call, SendDigits(digits="5#"))
    assert session.log == ["digits 5#"]


async def test_a_session_that_plays_no_audio_refuses_instead_of_failing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    edge = new_edge()
    session = RecordingSession()  # no send_digits
    call = await edge.start_call(session, source="textonly")
    caplog.set_level(logging.WARNING, logger="services.edge.actions")
    outcome = await answer(edge, call, SendDigits(digits="1"), Say(text="after"))
    assert outcome == Outcome.REPLIED
    assert session.said == []
    assert any("textonly call session plays no tones" in r.getMessage() for r in caplog.records)


async def test_the_simulator_prints_the_digits_it_would_play() -> None:
    lines: list[str] = []
    edge = new_edge()
    session = SimulatedSession(label="call 1", out=lines.append)
    call = await edge.start_call(session, source="simulator")
    await answer(edge, call, SendDigits(digits="12#"), Say(text="Sent"))
    assert session.digits_sent == ["12#"]
    assert lines == [
        "[call 1] agent sends digits: 12# (100 ms tones)",
        "[call 1] agent says: Sent",
    ]
