"""When the edge's events channel counts as stuck (and is replaced): publishes wait and the
broker has answered none of them for the stall bound. A slow broker, one that still answers
something, or an idle channel is never stuck."""

from __future__ import annotations

from services.edge.event_channel import StallWatch

STALL_S = 1.0


def test_publishes_unanswered_past_the_bound_are_a_stall() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    watch.sent(10.4)
    assert not watch.stalled(10.9)
    assert watch.stalled(11.1)


def test_a_broker_that_answers_something_is_slow_not_stuck() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    watch.sent(10.1)
    watch.answered(10.8)  # a confirm (or a nack) of another publish
    watch.settled()
    assert not watch.stalled(11.5)  # the oldest waits 1.5 s, but the broker is working
    assert watch.stalled(11.9)


def test_an_idle_channel_is_never_stuck_and_idle_time_does_not_count() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    watch.answered(10.01)
    watch.settled()
    assert not watch.stalled(60.0)
    watch.sent(60.0)  # the first publish after a quiet minute gets its own second
    assert not watch.stalled(60.5)
    assert watch.stalled(61.1)


def test_a_fresh_channel_gets_a_window_of_its_own() -> None:
    watch = StallWatch(stall_s=STALL_S)
    watch.sent(10.0)
    assert watch.stalled(11.1)
    watch.restart(11.2)  # replaced; the stuck publish fails and is sent again
    watch.settled()
    watch.sent(11.3)
    assert not watch.stalled(12.1)
    assert watch.stalled(12.4)
