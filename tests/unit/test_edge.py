"""The edge core: numbering presses, applying replies once, never leaving a caller in silence."""

from __future__ import annotations

import asyncio

import pytest

from contracts import Action, AnyEvent, CallEnded, Gather, KeyPress, Reply, Say, SetInstructions
from services.edge.calls import APPLIED_KEPT
from services.edge.edge import BUSY_PROMPT, TIMEOUT_PROMPT, Edge, EdgeBusy
from services.edge.handle import handle_for
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome
from tests.fakes import RecordingPublisher
from tests.support import RecordingSession


def edge(
    *, reply_timeout_s: float = 5.0, max_unanswered: int = 0
) -> tuple[Edge, RecordingPublisher]:
    published = RecordingPublisher()
    return Edge(
        edge_id="edge-a",
        publisher=published,
        metrics=Metrics(),
        reply_timeout_s=reply_timeout_s,
        max_unanswered=max_unanswered,
    ), published


def reply_to(event: KeyPress, *actions: Action, service: str = "sales") -> Reply:
    return Reply(
        call_id=event.call_id, in_reply_to=event.event_id, service=service, actions=list(actions)
    )


async def test_presses_are_numbered_per_call_and_published_in_order() -> None:
    e, published = edge()
    a = await e.start_call(RecordingSession(), source="simulator")
    b = await e.start_call(RecordingSession(), source="simulator")
    await e.press(a, 1)
    await e.press(b, "*")
    await e.press(a, 0)
    presses = [x for x in published.events if isinstance(x, KeyPress)]
    assert [(p.call_id == a.call_id, p.key, p.sequence) for p in presses] == [
        (True, "1", 1),
        (False, "*", 1),
        (True, "0", 2),
    ]
    assert all(p.reply_to == "edge-a" for p in presses)


async def test_actions_apply_in_order_and_once_per_press_and_service() -> None:
    e, _ = edge()
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    handle = await e.press(call, "1")
    event = handle.event
    reply = reply_to(event, SetInstructions(instructions="Sales rep"), Say(text="Routing"))
    assert await e.apply_reply(reply) == Outcome.REPLIED
    # The same press answered again by another replica of the same service: ignored.
    again = reply_to(event, Say(text="Routing"))
    assert await e.apply_reply(again) == Outcome.DUPLICATE
    assert session.said == ["Routing"]
    assert session.instructions == "Sales rep"
    assert await handle.reply(timeout=1) == reply
    metrics = e.metrics.registry
    assert metrics.get_sample_value("dtmf_press_to_reply_seconds_count") == 1
    applied = "dtmf_replies_applied_total"
    assert metrics.get_sample_value(applied, {"outcome": "applied"}) == 1
    assert metrics.get_sample_value(applied, {"outcome": "duplicate"}) == 1


async def test_reply_for_a_call_that_ended_is_dropped() -> None:
    e, published = edge()
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    event = (await e.press(call, "2")).event
    await e.end_call(call, reason="caller_hangup")
    assert await e.apply_reply(reply_to(event, Say(text="late"))) == Outcome.STALE_CALL
    assert session.said == []
    assert isinstance(published.events[-1], CallEnded)
    assert e.metrics.registry.get_sample_value("dtmf_live_calls") == 0


async def test_unanswered_press_gets_the_timeout_prompt() -> None:
    e, _ = edge(reply_timeout_s=0.05)
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    await e.press(call, "5")
    assert await session.said_count(1, timeout=5) == [TIMEOUT_PROMPT]
    assert e.metrics.registry.get_sample_value("dtmf_reply_timeouts_total") == 1
    assert call.pending == {}  # the press is forgotten after its timeout


async def test_answered_press_gets_no_timeout_prompt() -> None:
    e, _ = edge(reply_timeout_s=0.05)
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    event = (await e.press(call, "5")).event
    await e.apply_reply(reply_to(event, Say(text="done")))
    timer = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, timer.set)
    await asyncio.wait_for(timer.wait(), 5)  # past the reply timeout
    assert session.said == ["done"]
    assert e.metrics.registry.get_sample_value("dtmf_reply_timeouts_total") == 0


async def test_an_answer_to_a_newer_press_settles_the_older_ones() -> None:
    e, _ = edge(reply_timeout_s=0.05, max_unanswered=2)
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    first = (await e.press(call, "1")).event
    second = (await e.press(call, "2")).event
    newer = reply_to(second, Say(text="support")).model_copy(update={"sequence": second.sequence})
    await e.apply_reply(newer)
    # The caller moved on: the first press no longer counts towards shedding...
    assert sample(e, "dtmf_unanswered_presses") == 0
    await e.press(call, "3")  # would be shed if the first press still counted
    # ...its late reply is dropped, and no timeout prompt follows it.
    late = reply_to(first, Say(text="sales")).model_copy(update={"sequence": first.sequence})
    assert await e.apply_reply(late) == Outcome.SUPERSEDED
    assert await session.said_count(2, timeout=5) == ["support", TIMEOUT_PROMPT]  # press 3's
    assert sample(e, "dtmf_reply_timeouts_total") == 1


def sample(e: Edge, name: str) -> float | None:
    return e.metrics.registry.get_sample_value(name)


async def test_past_the_bound_of_unanswered_presses_new_ones_are_shed_with_a_busy_prompt() -> None:
    e, published = edge(max_unanswered=2)
    first, second = RecordingSession(), RecordingSession()
    a = await e.start_call(first, source="simulator")
    b = await e.start_call(second, source="simulator")
    one = (await e.press(a, "1")).event
    await e.press(b, "2")
    assert sample(e, "dtmf_unanswered_presses") == 2
    with pytest.raises(EdgeBusy):
        await e.press(a, "1")
    assert await first.said_count(1, timeout=5) == [BUSY_PROMPT]
    assert [x.key for x in published.events if isinstance(x, KeyPress)] == ["1", "2"]
    assert sample(e, "dtmf_presses_shed_total") == 1
    # An answer frees a place: the next press goes out, numbered after the last one sent.
    await e.apply_reply(reply_to(one, Say(text="Routing")))
    assert sample(e, "dtmf_unanswered_presses") == 1
    again = await e.press(a, "1")
    assert again.event.sequence == 2
    assert sample(e, "dtmf_presses_shed_total") == 1


async def test_timed_out_and_ended_calls_presses_stop_counting_as_unanswered() -> None:
    e, _ = edge(reply_timeout_s=0.05, max_unanswered=1)
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    await e.press(call, "5")
    assert await session.said_count(1, timeout=5) == [TIMEOUT_PROMPT]
    assert sample(e, "dtmf_unanswered_presses") == 0
    other = await e.start_call(RecordingSession(), source="simulator")
    await e.press(other, "5")  # not shed: the timed-out press no longer counts
    await e.end_call(other)
    assert sample(e, "dtmf_unanswered_presses") == 0


async def test_presses_collected_by_a_gather_are_never_shed() -> None:
    e, published = edge(max_unanswered=1)
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    first = (await e.press(call, "3")).event
    await e.apply_reply(reply_to(first, Gather(name="account", max_digits=3)))
    blocker = await e.start_call(RecordingSession(), source="simulator")
    await e.press(blocker, "9")  # the one unanswered press the bound allows
    for key in "123":
        await e.press(call, key)
    keys = [x.key for x in published.events if isinstance(x, KeyPress)]
    assert keys == ["3", "9", "1", "2", "3"]
    assert sample(e, "dtmf_presses_shed_total") == 0


async def test_a_long_call_remembers_only_its_recent_replies() -> None:
    e, _ = edge()
    call = await e.start_call(RecordingSession(), source="simulator")
    for _ in range(200):
        press = (await e.press(call, "1")).event
        answer = reply_to(press, Say(text="ok")).model_copy(update={"sequence": press.sequence})
        assert await e.apply_reply(answer) == Outcome.REPLIED
    assert len(call.applied) <= APPLIED_KEPT + 1  # not one per press of the call
    # A redelivered copy of the latest reply is still a duplicate; of an old one, superseded.
    assert await e.apply_reply(answer) == Outcome.DUPLICATE
    old = reply_to(press, Say(text="ok")).model_copy(update={"sequence": 1, "in_reply_to": "x"})
    assert await e.apply_reply(old) == Outcome.SUPERSEDED


async def test_a_press_hands_back_its_event_and_its_reply() -> None:
    e, published = edge()
    call = await e.start_call(RecordingSession(), source="simulator")
    handle = await e.press(call, "1", duration_ms=80)
    assert handle.event is published.events[-1] and handle.event.duration_ms == 80
    assert handle.answered_by == handle.event.event_id
    assert await handle.reply(timeout=0.01) is None  # no reply yet: gives up, settles nothing
    reply = reply_to(handle.event, Say(text="Routing"))
    await e.apply_reply(reply)
    assert await handle.reply(timeout=1) == reply
    # Looked up again while the press is remembered: the same answer.
    assert await handle_for(call, handle.event).reply(timeout=1) == reply


async def test_a_handle_keeps_its_reply_once_the_press_is_forgotten() -> None:
    e, _ = edge(reply_timeout_s=0.05)
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    handle = await e.press(call, "5")
    reply = reply_to(handle.event, Say(text="done"))
    await e.apply_reply(reply)
    timer = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, timer.set)
    await asyncio.wait_for(timer.wait(), 5)  # past the reply timeout: call.pending forgot it
    assert call.pending == {}
    assert await handle.reply(timeout=1) == reply
    # Looked up as the call stands now, a press past its timeout has no reply to wait for.
    late = handle_for(call, handle.event)
    assert late.answered_by == handle.answered_by  # it still knows what would answer it
    assert await late.reply(timeout=0.01) is None


class HeldPublisher(RecordingPublisher):
    """Holds a press's publish (as one awaiting its confirm) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, event: AnyEvent) -> None:
        await super().publish(event)
        if isinstance(event, KeyPress):
            self.holding.set()
            await self.release.wait()


async def test_a_press_held_past_its_reply_timeout_still_hands_back_its_reply() -> None:
    held = HeldPublisher()
    e = Edge(edge_id="edge-a", publisher=held, metrics=Metrics(), reply_timeout_s=0.05)
    call = await e.start_call(RecordingSession(), source="simulator")
    pressing = asyncio.ensure_future(e.press(call, "1"))
    await asyncio.wait_for(held.holding.wait(), 5)
    [press] = [x for x in held.events if isinstance(x, KeyPress)]
    reply = reply_to(press, Say(text="Routing"))
    await e.apply_reply(reply)  # answered before the publish returned
    timer = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, timer.set)
    await asyncio.wait_for(timer.wait(), 5)  # past the reply timeout: call.pending forgot it
    assert call.pending == {}
    held.release.set()
    handle = await asyncio.wait_for(pressing, 5)
    assert await handle.reply(timeout=1) == reply


async def test_a_handle_on_a_timed_out_press_gives_none() -> None:
    e, _ = edge(reply_timeout_s=0.05)
    session = RecordingSession()
    call = await e.start_call(session, source="simulator")
    handle = await e.press(call, "5")
    assert await handle.reply(timeout=5) is None  # resolved by the timeout, well before 5 s
    assert session.said == [TIMEOUT_PROMPT]


async def test_a_shed_press_raises_instead_of_handing_back_a_handle() -> None:
    e, _ = edge(max_unanswered=1)
    call = await e.start_call(RecordingSession(), source="simulator")
    await e.press(call, "1")
    with pytest.raises(EdgeBusy):
        await e.press(call, "2")
