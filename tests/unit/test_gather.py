"""Collecting digits at the edge: how a gather ends, and what it publishes."""

from __future__ import annotations

import asyncio

from contracts import Gather, GatheredInput, Reply, Say
from services.edge.calls import Call
from services.edge.edge import Edge, PressHandle
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome
from tests.fakes import RecordingPublisher
from tests.support import RecordingSession


async def gathering_call(
    spec: Gather, *, edge: Edge | None = None, published: RecordingPublisher | None = None
) -> tuple[Edge, RecordingPublisher, Call, RecordingSession]:
    """A call on which a service has answered a press with this Gather."""
    published = published or RecordingPublisher()
    edge = edge or Edge(edge_id="edge-a", publisher=published, metrics=Metrics())
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    press = (await edge.press(call, "3")).event
    reply = Reply(
        call_id=call.call_id,
        in_reply_to=press.event_id,
        sequence=press.sequence,
        service="billing",
        actions=[spec],
    )
    assert await edge.apply_reply(reply) == Outcome.REPLIED
    return edge, published, call, session


async def press_all(edge: Edge, call: Call, keys: str) -> list[PressHandle]:
    return [await edge.press(call, key) for key in keys]


async def test_finish_key_ends_the_input_and_is_not_part_of_it() -> None:
    edge, published, call, session = await gathering_call(
        Gather(name="account", prompt="Enter your account", max_digits=8)
    )
    presses = await press_all(edge, call, "10*7#")
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.digits, gathered.reason) == ("10*7", "finish_key")
    assert gathered.routing_key == "input.account"
    assert gathered.sequence == presses[-1].event.sequence
    # Collected presses are still published (for the log) but out of the services' keys.
    assert [p.event.collecting for p in presses] == ["account"] * 5
    assert [p.event.routing_key for p in presses] == [
        "collect.1",
        "collect.0",
        "collect.star",
        "collect.7",
        "collect.hash",
    ]
    assert session.said == ["Enter your account"]
    # The press that completed the input is answered by the input's reply.
    assert presses[-1].answered_by == gathered.event_id
    assert presses[0].answered_by is None


async def test_finish_key_first_gives_an_empty_input() -> None:
    edge, published, call, _ = await gathering_call(Gather(name="pin"))
    await press_all(edge, call, "#")
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.digits, gathered.reason) == ("", "finish_key")


async def test_max_digits_ends_it_without_the_finish_key() -> None:
    edge, published, call, _ = await gathering_call(Gather(name="choice", max_digits=2))
    presses = await press_all(edge, call, "42")
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.digits, gathered.reason) == ("42", "max_digits")
    # The next press is a plain key press again.
    after = (await edge.press(call, "1")).event
    assert after.collecting is None and after.routing_key == "dtmf.1"
    assert len(presses) == 2


async def test_no_finish_key_means_only_count_or_time_end_it() -> None:
    edge, published, call, _ = await gathering_call(
        Gather(name="code", finish_key=None, max_digits=3)
    )
    await press_all(edge, call, "#0#")
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.digits, gathered.reason) == ("#0#", "max_digits")


async def test_silence_between_digits_ends_it() -> None:
    edge, published, call, _ = await gathering_call(
        Gather(name="account", inter_digit_timeout_s=0.05, timeout_s=30)
    )
    await press_all(edge, call, "12")
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.digits, gathered.reason) == ("12", "inter_digit_timeout")


async def test_nothing_entered() -> None:
    _edge, published, _call, _ = await gathering_call(
        Gather(name="account", inter_digit_timeout_s=0.05)
    )
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.digits, gathered.reason) == ("", "no_input")


async def test_overall_timeout_bounds_a_slow_caller() -> None:
    edge, published, call, _ = await gathering_call(
        Gather(name="account", inter_digit_timeout_s=60, timeout_s=0.1)
    )
    await press_all(edge, call, "9")
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.digits, gathered.reason) == ("9", "timeout")


async def test_call_ending_mid_gather_publishes_no_input() -> None:
    edge, published, call, _ = await gathering_call(
        Gather(name="account", inter_digit_timeout_s=0.05)
    )
    await press_all(edge, call, "12")
    await edge.end_call(call)
    timer = asyncio.Event()
    asyncio.get_running_loop().call_later(0.15, timer.set)
    await timer.wait()  # well past the inter-digit timeout
    assert published.of_type(GatheredInput) == []
    assert call.gather is None


async def test_a_new_gather_replaces_the_old_one() -> None:
    edge, published, call, session = await gathering_call(Gather(name="account"))
    await press_all(edge, call, "55")
    second = Reply(
        call_id=call.call_id,
        in_reply_to="other",
        service="billing",
        actions=[Gather(name="pin", prompt="Now your PIN", max_digits=4)],
    )
    assert await edge.apply_reply(second) == Outcome.REPLIED
    await press_all(edge, call, "0000")
    [gathered] = await published.wait_for(GatheredInput)
    assert (gathered.name, gathered.digits, gathered.reason) == ("pin", "0000", "max_digits")
    assert session.said == ["Now your PIN"]


async def test_two_calls_gather_at_once_without_mixing_digits() -> None:
    published = RecordingPublisher()
    edge = Edge(edge_id="edge-a", publisher=published, metrics=Metrics())
    _, _, a, _ = await gathering_call(Gather(name="account"), edge=edge, published=published)
    _, _, b, _ = await gathering_call(Gather(name="account"), edge=edge, published=published)
    for key_a, key_b in zip("123#", "98#", strict=False):
        await edge.press(a, key_a)
        await edge.press(b, key_b)
    await edge.press(a, "#")
    gathered = await published.wait_for(GatheredInput, 2)
    by_call = {g.call_id: g.digits for g in gathered}
    assert by_call == {a.call_id: "123", b.call_id: "98"}


async def test_a_press_barges_in_once_while_collecting() -> None:
    edge, _, call, session = await gathering_call(Gather(name="account"))
    await press_all(edge, call, "12")
    assert session.interruptions == 1


async def test_no_barge_in_when_the_gather_says_so() -> None:
    edge, _, call, session = await gathering_call(Gather(name="account", barge_in=False))
    await press_all(edge, call, "12")
    assert session.interruptions == 0


def billing_reply(call: Call, gathered: GatheredInput) -> Reply:
    """What the billing service answers to a completed input."""
    return Reply(
        call_id=call.call_id,
        in_reply_to=gathered.event_id,
        sequence=gathered.sequence,
        service="billing",
        actions=[Say(text="Thanks")],
    )


async def test_the_reply_to_the_input_answers_the_press_that_completed_it() -> None:
    edge, published, call, session = await gathering_call(Gather(name="account"))
    presses = await press_all(edge, call, "7#")
    [gathered] = await published.wait_for(GatheredInput)
    reply = billing_reply(call, gathered)
    await edge.apply_reply(reply)
    assert await presses[-1].reply(timeout=1) == reply
    assert session.said == ["Thanks"]


async def test_handles_of_collected_presses_point_at_the_input() -> None:
    edge, published, call, _ = await gathering_call(Gather(name="account"))
    first = await edge.press(call, "7")
    last = await edge.press(call, "#")
    [gathered] = await published.wait_for(GatheredInput)
    assert first.answered_by is None  # only collected: nothing to wait for
    assert await first.reply(timeout=1) is None
    assert last.answered_by == gathered.event_id
    reply = billing_reply(call, gathered)
    await edge.apply_reply(reply)
    assert await last.reply(timeout=1) == reply
