"""What a consumer service does with an event before and after its handler."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from contracts import Action, CallEnded, CallStarted, Event, GatheredInput, KeyPress, Reply, Say
from contracts.base import utcnow
from services.runtime.dispatch import Dispatcher
from services.runtime.outcomes import BadMessage, Expired, Outcome
from services.runtime.service import Binding, ConsumerService, accepted_types, all_events, keys


def press(key: str = "1", *, call_id: str = "c1", age_s: float = 0.0) -> KeyPress:
    at = utcnow() - timedelta(seconds=age_s)
    return KeyPress(
        call_id=call_id,
        reply_to="edge-a",
        source="simulator",
        key=key,
        sequence=1,
        pressed_at=at,
        received_at=at,
    )


class Sent:
    def __init__(self) -> None:
        self.replies: list[tuple[Reply, str]] = []

    async def __call__(self, reply: Reply, edge_id: str) -> None:
        self.replies.append((reply, edge_id))


async def sales(event: KeyPress) -> list[Action]:
    return [Say(text=f"sales {event.key}")]


def dispatcher(handler=sales, *, interactive: bool = True) -> tuple[Dispatcher, Sent]:  # type: ignore[no-untyped-def]
    sent = Sent()
    service = ConsumerService(
        name="sales", bindings=keys("1"), handler=handler, interactive=interactive
    )
    return Dispatcher(service, send_reply=sent, max_age=timedelta(seconds=5)), sent


async def test_reply_goes_to_the_edge_that_owns_the_call() -> None:
    dispatch, sent = dispatcher()
    event = press()
    assert await dispatch(event) == Outcome.REPLIED
    [(reply, edge_id)] = sent.replies
    assert edge_id == "edge-a"
    assert (reply.call_id, reply.in_reply_to, reply.service) == ("c1", event.event_id, "sales")
    assert reply.actions == [Say(text="sales 1")]


async def test_press_older_than_the_bound_expires() -> None:
    dispatch, sent = dispatcher()
    with pytest.raises(Expired, match="expired: press waited 6"):
        await dispatch(press(age_s=6))
    assert sent.replies == []


async def test_non_interactive_services_take_old_presses() -> None:
    dispatch, _ = dispatcher(interactive=False)
    assert await dispatch(press(age_s=600)) == Outcome.REPLIED


async def test_presses_of_ended_calls_are_dropped_not_answered() -> None:
    dispatch, sent = dispatcher()
    ended = CallEnded(call_id="c1", reply_to="edge-a", source="simulator")
    assert await dispatch(ended) == Outcome.NO_REPLY
    assert await dispatch(press(call_id="c1")) == Outcome.STALE_CALL
    assert await dispatch(press(call_id="c2")) == Outcome.REPLIED
    assert len(sent.replies) == 1


async def test_an_event_the_handler_does_not_take_is_refused() -> None:
    dispatch, _ = dispatcher()
    with pytest.raises(BadMessage, match="does not take CallStarted"):
        await dispatch(CallStarted(call_id="c", reply_to="e", source="simulator"))


async def test_no_actions_means_no_reply() -> None:
    async def quiet(event: Event) -> list[Action]:
        return []

    dispatch, sent = dispatcher(quiet)
    assert await dispatch(press()) == Outcome.NO_REPLY
    assert sent.replies == []


class Gated:
    """A handler that holds each event until its gate opens, recording starts and ends."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.starts: dict[str, asyncio.Event] = {}
        self.log: list[str] = []

    def gate(self, event: KeyPress) -> asyncio.Event:
        return self.gates.setdefault(event.event_id, asyncio.Event())

    def started(self, event: KeyPress) -> asyncio.Event:
        return self.starts.setdefault(event.event_id, asyncio.Event())

    async def __call__(self, event: KeyPress) -> list[Action]:
        self.log.append(f"start {event.call_id} {event.key}")
        self.started(event).set()
        await self.gate(event).wait()
        self.log.append(f"end {event.call_id} {event.key}")
        return []


async def test_a_calls_events_are_handled_one_at_a_time_in_arrival_order() -> None:
    handler = Gated()
    dispatch, _ = dispatcher(handler.__call__)
    first, second, third = press("1"), press("2"), press("3")
    other = press("4", call_id="c2")
    tasks = [asyncio.create_task(dispatch(e)) for e in (first, second, third, other)]
    # The other call is not held up by c1's first event.
    await asyncio.wait_for(handler.started(other).wait(), 5)
    assert handler.log == ["start c1 1", "start c2 4"]
    for event in (third, second, first, other):  # released out of order
        handler.gate(event).set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    c1 = [line for line in handler.log if " c1 " in line]
    assert c1 == ["start c1 1", "end c1 1", "start c1 2", "end c1 2", "start c1 3", "end c1 3"]
    assert len(dispatch.locks) == 0  # nothing is kept per call once its events are done


async def test_an_event_cancelled_while_waiting_its_turn_does_not_hold_up_the_next() -> None:
    handler = Gated()
    dispatch, _ = dispatcher(handler.__call__)
    first, second, third = press("1"), press("2"), press("3")
    running = asyncio.create_task(dispatch(first))
    await asyncio.wait_for(handler.started(first).wait(), 5)
    waiting = asyncio.create_task(dispatch(second))
    after = asyncio.create_task(dispatch(third))
    await asyncio.sleep(0)  # both queue behind the first
    waiting.cancel()
    handler.gate(first).set()
    handler.gate(third).set()
    await asyncio.wait_for(asyncio.gather(running, after), 5)
    assert waiting.cancelled()
    assert handler.log == ["start c1 1", "end c1 1", "start c1 3", "end c1 3"]
    assert len(dispatch.locks) == 0


def test_handler_annotation_names_what_the_service_takes() -> None:
    async def everything(event: Event) -> list[Action]:
        return []

    assert accepted_types(sales) == (KeyPress,)
    assert set(accepted_types(everything)) == {KeyPress, CallStarted, CallEnded, GatheredInput}

    async def untyped(event):  # type: ignore[no-untyped-def]
        return []

    async def wrong(event: str) -> list[Action]:
        return []

    with pytest.raises(TypeError, match="annotate"):
        ConsumerService(name="x", bindings=all_events(), handler=untyped)
    with pytest.raises(TypeError, match="events from contracts"):
        ConsumerService(name="x", bindings=all_events(), handler=wrong)


def test_an_interactive_queue_also_hears_of_every_call_ending() -> None:
    # Without the call.ended binding, an interactive service would answer presses of calls
    # that have already hung up; the call log binds everything already and needs no more.
    interactive = ConsumerService(name="sales", bindings=keys("1"), handler=sales)
    assert interactive.queue_bindings == [
        *keys("1"),
        Binding("dtmf.events", "call.ended"),
    ]

    async def log(event: Event) -> list[Action]:
        return []

    archive = ConsumerService(name="log", bindings=all_events(), handler=log, interactive=False)
    assert archive.queue_bindings == all_events()
