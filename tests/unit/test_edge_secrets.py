"""The edge guarding what reaches outside the call or holds a secret: transfers only where
the operator allowed, and a sensitive gather's digits kept out of logs and metric labels."""

from __future__ import annotations

import logging

import pytest

from contracts import Gather, GatheredInput, Hangup, KeyPress, Reply, Say, Transfer
from services.edge.edge import Edge
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome
from services.runtime.transfers import TRANSFER_REFUSED_PROMPT, TransferAllowlist
from tests.fakes import RecordingPublisher
from tests.support import RecordingSession

REFUSED = "dtmf_transfers_refused_total"


def edge(allow: str = "") -> tuple[Edge, RecordingPublisher]:
    published = RecordingPublisher()
    e = Edge(
        edge_id="edge-a",
        publisher=published,
        metrics=Metrics(),
        transfer_allow=TransferAllowlist.parse(allow),
    )
    return e, published


def reply(press: KeyPress, *actions: Say | Transfer | Hangup | Gather, service: str) -> Reply:
    return Reply(
        call_id=press.call_id,
        in_reply_to=press.event_id,
        sequence=press.sequence,
        service=service,
        actions=list(actions),
    )


async def test_an_allowed_transfer_dials_the_checked_number() -> None:
    e, _ = edge("+1800")
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    press = (await e.press(call, "0")).event
    answer = reply(
        press, Say(text="Connecting you."), Transfer(to="tel:+1 (800) 555-0100"), service="support"
    )
    assert await e.apply_reply(answer) == Outcome.REPLIED
    assert session.said == ["Connecting you.", "(transfer to +18005550100)"]
    assert e.metrics.registry.get_sample_value(REFUSED, {"service": "support"}) is None


async def test_a_refused_transfer_is_apologised_for_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    e, _ = edge("+1800, sip:*@pbx.example.com")
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    handle = await e.press(call, "0")
    premium = reply(
        handle.event,
        Say(text="Connecting you."),
        Transfer(to="+1 900 555 0100"),
        Hangup(reason="transferred"),
        service="rogue",
    )
    with caplog.at_level(logging.WARNING, logger="services.edge.actions"):
        assert await e.apply_reply(premium) == Outcome.REPLIED

    # The caller hears why instead of a transfer, and stays on the call: the rest of the
    # reply (here a hang-up) counted on the transfer.
    assert session.said == ["Connecting you.", TRANSFER_REFUSED_PROMPT]
    assert e.calls.get(call.call_id) is call
    assert await handle.reply(timeout=1) == premium  # answered: no timeout
    assert e.metrics.registry.get_sample_value(REFUSED, {"service": "rogue"}) == 1
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = record.getMessage()
    assert "'rogue'" in message and call.call_id in message and "+19005550100" in message

    # Another trick from the same service: counted again, under the service only.
    again = (await e.press(call, "0")).event
    trick = reply(again, Transfer(to="sip:+1900@evil.com;x=@pbx.example.com"), service="rogue")
    assert await e.apply_reply(trick) == Outcome.REPLIED
    assert e.metrics.registry.get_sample_value(REFUSED, {"service": "rogue"}) == 2
    assert session.said[-1] == TRANSFER_REFUSED_PROMPT


async def test_nothing_is_transferred_by_an_edge_without_an_allowlist() -> None:
    e = Edge(edge_id="edge-a", publisher=RecordingPublisher(), metrics=Metrics())
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    press = (await e.press(call, "0")).event
    await e.apply_reply(reply(press, Transfer(to="sip:desk@pbx.example.com"), service="support"))
    assert session.said == [TRANSFER_REFUSED_PROMPT]


async def test_a_sensitive_gathers_digits_stay_out_of_logs_and_metric_labels(
    caplog: pytest.LogCaptureFixture,
) -> None:
    e, published = edge()
    call = await e.start_call(RecordingSession(), source="simulator")
    press = (await e.press(call, "3")).event
    ask = Gather(name="pin", max_digits=4, finish_key=None, sensitive=True)
    await e.apply_reply(reply(press, ask, service="billing"))
    with caplog.at_level(logging.DEBUG, logger="services.edge"):
        collected = [await e.press(call, key) for key in "2580"]

    # On the bus the service binding input.pin gets the digits; each collected press is
    # marked, so the call log masks it.
    [gathered] = [x for x in published.events if isinstance(x, GatheredInput)]
    assert (gathered.digits, gathered.sensitive, gathered.reason) == ("2580", True, "max_digits")
    assert [p.event.sensitive for p in collected] == [True] * 4
    assert not press.sensitive
    # Neither the edge's log nor a metric label says which keys were pressed.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "pressed masked" in logged
    assert not any(f"pressed {key}" in logged for key in "2580")
    registry = e.metrics.registry
    received = "dtmf_presses_received_total"
    assert registry.get_sample_value(received, {"key": "masked", "source": "simulator"}) == 4
    for key in "2580":
        assert registry.get_sample_value(received, {"key": key, "source": "simulator"}) is None
