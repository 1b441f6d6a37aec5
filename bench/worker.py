"""What every load worker process (edge load generator, baseline driver) shares.

The bench driver talks to a worker over its stdin/stdout, one JSON object per line:

    worker -> {"event": "ready", ...}     set up (connected, calls started): waiting
    driver -> {"start": T, "warmup": W, "duration": D}   T on the shared CLOCK_MONOTONIC
    worker -> {"event": "measured"}      the window [T+W, T+W+D] is over, replies drained
    worker -> {"event": "done"}          torn down; its result file is written

so every worker starts its load at the same instant and the driver reads each process's
CPU time at the window's edges. Anything else a worker prints goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.histogram import Histogram


def announce(event: str, **data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class Go:
    start: float  # time.monotonic() at which the load starts
    warmup: float
    duration: float

    @property
    def window_start(self) -> float:
        return self.start + self.warmup

    @property
    def window_end(self) -> float:
        return self.start + self.warmup + self.duration


async def wait_for_go() -> Go:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("bench worker: the driver closed stdin before go")
    msg = json.loads(line)
    return Go(float(msg["start"]), float(msg["warmup"]), float(msg["duration"]))


async def sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


# One paced press: (index of the caller over all workers, its n-th press, when it was due).
Press = Callable[[int, int, float], Coroutine[Any, Any, None]]


async def paced(
    go: Go, press: Press, *, count: int, offset: int, total: int, interval: float
) -> None:
    """The open loop: each of `count` callers presses every `interval`, caller i (of `total`
    over all workers) phased i/total into the interval. A press starts on time whether or not
    earlier ones were answered; returns once every press made has finished."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    # Both loops' clocks are monotonic, but uvloop's is read once per loop turn and in
    # whole milliseconds: timers are set on the loop's clock, due times kept on the precise one.
    shift = loop.time() - time.monotonic()

    def fire(index: int, due: float, n: int) -> None:
        task = loop.create_task(press(index, n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        nxt = due + interval
        if nxt < go.window_end:
            loop.call_at(nxt + shift, fire, index, nxt, n + 1)

    for index in range(offset, offset + count):
        first = go.start + interval * index / total
        loop.call_at(first + shift, fire, index, first, 0)
    await sleep_until(go.window_end)
    while tasks:
        await asyncio.gather(*list(tasks))


# A Recorder keeps latencies in histograms (bench.histogram: fixed size, 0.4 % precision) per
# slice of the window, by when the press was made: 1 s slices (the per-second timeline),
# coarsened so that a phase has at most MAX_SLICES of them. The soak sets SLICE_ENV to its
# window length: a window is then one slice, and the load generator's memory stays flat.
MAX_SLICES = 120
SLICE_ENV = "BENCH_LATENCY_SLICE_S"


def slice_seconds(duration: float) -> float:
    pinned = os.environ.get(SLICE_ENV)
    if pinned:
        return float(pinned)
    return float(max(1, math.ceil(duration / MAX_SLICES)))


@dataclass
class Recorder:
    """Counts every press; histograms of the latencies of the presses made inside the window
    (per slice of it) and of their schedule lag."""

    go: Go
    presses: int = 0  # made inside the window
    replies: int = 0  # answered, of those
    lost: int = 0  # no reply within the reply timeout (whenever made, warm-up included)
    errors: int = 0  # the press itself raised (e.g. publish failed)
    shed: int = 0  # the edge was too busy: not sent, the caller heard the busy prompt
    total_presses: int = 0
    slice_s: float = 0.0  # 0: slice_seconds(go.duration)
    latency: dict[int, Histogram] = field(default_factory=dict)  # by slice of the window
    lag: Histogram = field(default_factory=Histogram)

    def __post_init__(self) -> None:
        if self.slice_s <= 0:
            self.slice_s = slice_seconds(self.go.duration)

    def in_window(self, t0: float) -> bool:
        return self.go.window_start <= t0 < self.go.window_end

    def answered(self, t0: float, t1: float, lag: float | None = None) -> None:
        self.total_presses += 1
        if self.in_window(t0):
            self.presses += 1
            self.replies += 1
            index = int((t0 - self.go.window_start) / self.slice_s)
            histogram = self.latency.get(index)
            if histogram is None:
                histogram = self.latency[index] = Histogram()
            histogram.record(int((t1 - t0) * 1e6))
            if lag is not None:
                # uvloop's clock ticks in whole milliseconds, so a press can fire up to 1 ms
                # "before" its due time on the precise clock: that is on time.
                self.lag.record(int(max(lag, 0.0) * 1e6))

    def unanswered(self, t0: float, *, error: bool = False) -> None:
        self.total_presses += 1
        if error:
            self.errors += 1
        else:
            self.lost += 1
        if self.in_window(t0):
            self.presses += 1

    def shed_press(self, t0: float) -> None:
        self.total_presses += 1
        self.shed += 1
        if self.in_window(t0):
            self.presses += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "presses": self.presses,
            "replies": self.replies,
            "lost": self.lost,
            "errors": self.errors,
            "shed": self.shed,
            "total_presses": self.total_presses,
            "slice_s": self.slice_s,
            # per slice of the window (press made at slice * slice_s s into it), sparse
            "latency": [{"slice": i, **h.to_json()} for i, h in sorted(self.latency.items())],
            "lag": self.lag.to_json(),
        }


def write_result(path: str, result: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(result))


def key_mix(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not keys:
        raise SystemExit("bench: --keys needs at least one key")
    return keys
