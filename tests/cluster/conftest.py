"""Fixtures of the cluster tier: a 3-node private RabbitMQ cluster (one for the tier, healed
before each test), a vhost of the test's own, a round-robin balancer in front, and steady
load from callers on the project's real edges and services."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

import pytest

from contracts import Event, KeyPress
from services.edge.bus import running_edge
from services.edge.calls import Call
from services.edge.edge import BUSY_PROMPT, TIMEOUT_PROMPT, Edge, EdgeBusy
from services.runtime.app import running_service
from tests.cluster.balancer import Balancer
from tests.integration.conftest import STANDARD, SystemSettings, WatchedCallLog
from tools.private_nodes.cluster import PrivateCluster

PROMPTS = (TIMEOUT_PROMPT, BUSY_PROMPT)

log = logging.getLogger(__name__)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs a private 3-node RabbitMQ cluster (starts one, ~20 s)"
    )


@pytest.fixture(scope="package")
def private_cluster() -> Iterator[PrivateCluster]:
    # Package scope: the nodes go as soon as this tier is done, not idle through the others.
    cluster = PrivateCluster()
    try:
        cluster.form()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def cluster(private_cluster: PrivateCluster) -> PrivateCluster:
    """The session's cluster with every node running, whatever the last test left down."""
    down = [node for node in private_cluster.nodes if not node.running]
    if down:
        log.info("restarting %d node(s) a previous test left down", len(down))
        private_cluster.start(*down)
    running = private_cluster.running_nodes()
    assert len(running) == len(private_cluster.nodes), f"cluster not whole: {running}"
    return private_cluster


@pytest.fixture
def vhost(cluster: PrivateCluster) -> Iterator[str]:
    name = f"dtmf-cluster-{uuid.uuid4().hex[:8]}"
    cluster.add_vhost(name)
    yield name
    try:
        cluster.any_running().ctl("delete_vhost", name)
    except (RuntimeError, StopIteration) as error:  # the cluster goes with the tier anyway
        log.warning("vhost %s not deleted: %s", name, error)


@pytest.fixture
def balancer(cluster: PrivateCluster) -> Iterator[Balancer]:
    with Balancer(cluster.ports) as running:
        yield running


# --- Steady load: the project's real services and edges, and patient callers ---------------

KEYS = ("1", "2", "9")  # sales, support, menu: every press has exactly one service answering
EDGES = 6  # as in the reproduction: 1 to 3 of 6 edges wedged after a kill
CALLERS_PER_EDGE = 2
ONE_EDGE_PER_CALL = 2  # callers whose every call runs an edge of its own (register mode)
# A call ends after this many presses or seconds, whichever comes first, so callers also
# hang up while the broker is away (with presses their edge has not had confirmed yet).
PRESSES_PER_CALL = 12
CALL_S = 6.0
PACE_S = 0.25  # between an answer and the next press
REDIAL_S = 1.0  # after a call that could not start
SLACK_S = 2.0  # past the reply timeout, a press neither answered nor apologized for is silence
START_BOUND_S = 30.0  # an edge (a call, in register mode) that takes longer did not start


def left_of(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


def _at(moment: float | None, t0: float) -> str:
    return "" if moment is None else f" at {moment - t0:+.2f}"


@dataclass
class Press:
    sent_at: float  # time.monotonic()
    outcome: str = "pending"  # service, apology, busy, refused, silence
    answered_at: float | None = None
    call_id: str = ""
    sequence: int = 0  # 0 unless the edge accepted the press


class Caller:
    """One caller: calls, presses a key, waits for the answer (bounded), presses again. It is
    also the agent's side of its calls (a CallSession), so it knows what it heard when."""

    def __init__(self, name: str, load: Load) -> None:
        self.name = name
        self.load = load
        self.presses: list[Press] = []
        self.heard: list[tuple[float, str]] = []
        self.calls: list[str] = []  # call ids whose start the edge accepted
        self.ended: list[str] = []  # call ids whose end the edge accepted
        # Starting an edge (register mode) or a call: (tried, done, what, error or "").
        self.starts: list[tuple[float, float, str, str]] = []

    @property
    def failed_starts(self) -> list[tuple[float, float, str, str]]:
        return [start for start in self.starts if start[3]]

    async def say(self, text: str) -> None:
        self.heard.append((time.monotonic(), text))
        await self.load.changed()

    async def set_instructions(self, instructions: str) -> None:
        pass

    async def transfer(self, to: str) -> None:
        pass

    async def hangup(self, reason: str) -> None:
        pass

    async def interrupt(self) -> None:
        pass

    def service_answers(self, after: float) -> list[float]:
        return [at for at, text in self.heard if at >= after and text not in PROMPTS]

    def apologies(self, since: float, until: float = math.inf) -> int:
        return sum(since <= at <= until for at, text in self.heard if text == TIMEOUT_PROMPT)

    def timeline(self, t0: float, since: float, until: float) -> str:
        """What this caller did in a window, in seconds from t0, for a failure report."""
        events = [
            (p.sent_at, f"press: {p.outcome}" + _at(p.answered_at, t0))
            for p in self.presses
            if since <= p.sent_at <= until
        ]
        events += [
            (tried, f"{what}: {error or 'ok'}" + _at(done, t0))
            for tried, done, what, error in self.starts
            if since <= tried <= until
        ]
        return f"{self.name}:\n" + "\n".join(
            f"  {at - t0:+7.2f} {text}" for at, text in sorted(events)
        )

    async def call(self, edge: Edge) -> None:
        tried = time.monotonic()
        try:
            call = await edge.start_call(self, source="simulator")
        except Exception as error:
            log.warning("%s: call not started: %r", self.name, error)
            self.starts.append((tried, time.monotonic(), "call start", repr(error)))
            await asyncio.sleep(REDIAL_S)
            return
        self.calls.append(call.call_id)
        try:
            for n in range(PRESSES_PER_CALL):
                if self.load.stop.is_set() or time.monotonic() - tried > CALL_S:
                    break
                await self._press(edge, call, KEYS[n % len(KEYS)])
                await asyncio.sleep(PACE_S)  # the caller's pace, not a wait for a result
        finally:
            await edge.end_call(call, reason="caller_hangup")
            self.ended.append(call.call_id)

    async def _press(self, edge: Edge, call: Call, key: str) -> None:
        press = Press(sent_at=time.monotonic())
        self.presses.append(press)
        deadline = press.sent_at + self.load.settings.reply_timeout_s + SLACK_S
        heard_before = len(self.heard)
        try:
            handle = await edge.press(call, key)
        except EdgeBusy:
            press.outcome, press.answered_at = "busy", time.monotonic()
            return
        except Exception as error:
            log.warning("%s: press refused: %r", self.name, error)
            press.outcome, press.answered_at = "refused", time.monotonic()
            return
        press.call_id, press.sequence = handle.event.call_id, handle.event.sequence
        # When the caller heard it, not when edge.press returned: a publish waiting for its
        # confirm can hold edge.press past the moment the answer or the apology was said.
        if await handle.reply(timeout=left_of(deadline)) is not None:
            press.outcome = "service"
            heard = self._heard(heard_before, lambda text: text not in PROMPTS)
            press.answered_at = heard if heard is not None else time.monotonic()
        else:
            apology = functools.partial(self._heard, heard_before, TIMEOUT_PROMPT.__eq__)
            try:
                await self.load.until(lambda: apology() is not None, timeout=left_of(deadline))
                press.outcome, press.answered_at = "apology", apology()
            except TimeoutError:
                press.outcome = "silence"
        await self.load.changed()

    def _heard(self, since: int, match: Callable[[str], bool]) -> float | None:
        """When the caller first heard a matching line, of those from index `since` on."""
        return next((at for at, text in self.heard[since:] if match(text)), None)

    async def on(self, edge: Edge) -> None:
        while not self.load.stop.is_set():
            await self.call(edge)

    async def one_edge_per_call(self) -> None:
        """Register mode: every call is a process of its own, with its own edge and reply
        queue, that ends with the call."""
        while not self.load.stop.is_set():
            settings = replace(self.load.settings, edge_id=f"{self.name}-{len(self.starts)}")
            tried = time.monotonic()
            async with AsyncExitStack() as stack:
                try:
                    async with asyncio.timeout(START_BOUND_S):
                        edge = await stack.enter_async_context(running_edge(settings))
                except Exception as error:
                    log.warning("%s: edge %s did not start: %r", self.name, settings.edge_id, error)
                    self.starts.append((tried, time.monotonic(), "edge start", repr(error)))
                    await asyncio.sleep(REDIAL_S)
                    continue
                self.starts.append((tried, time.monotonic(), "edge start", ""))
                await self.call(edge)


class Load:
    def __init__(self, settings: SystemSettings) -> None:
        self.settings = settings
        self.callers: list[Caller] = []
        self.edges: list[Edge] = []
        self.stop = asyncio.Event()
        self.crashed: list[str] = []  # callers whose task raised: a bug or a failing edge
        self._tasks: list[asyncio.Task[None]] = []
        self._changed = asyncio.Condition()

    def add(self, name: str, edge: Edge | None = None) -> Caller:
        """A caller on this edge, or, without one, with an edge of its own for each call."""
        caller = Caller(name, self)
        self.callers.append(caller)
        self._tasks.append(
            asyncio.create_task(caller.on(edge) if edge else caller.one_edge_per_call())
        )
        return caller

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, done: Callable[[], bool], *, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(done)

    async def each_answered(self, *, after: float, times: int, timeout: float) -> bool:
        """Until every caller heard `times` service answers after `after`; False past the
        bound (the test then reports who was not)."""
        try:
            await self.until(
                lambda: all(len(c.service_answers(after)) >= times for c in self.callers),
                timeout=timeout,
            )
        except TimeoutError:
            return False
        return True

    def accepted(self) -> set[tuple[str, int]]:
        return {(p.call_id, p.sequence) for c in self.callers for p in c.presses if p.sequence}

    async def hang_up(self) -> None:
        """Callers finish the press in hand, hang up and stop (bounded)."""
        self.stop.set()
        if not self._tasks:
            return
        done, late = await asyncio.wait(self._tasks, timeout=START_BOUND_S + 30)
        for task in late:
            task.cancel()
            self.crashed.append(f"{task.get_name()}: still running at the end")
        for task in done:
            if (error := task.exception()) is not None:
                log.error("a caller failed", exc_info=error)
                self.crashed.append(repr(error))


@asynccontextmanager
async def running_load(settings: SystemSettings) -> AsyncIterator[Load]:
    """Services, call log, edges and callers; on exit the callers hang up and the call log
    is given a bounded time to catch up before everything stops."""
    load = Load(settings)
    calllog = WatchedCallLog(settings.calllog_path)
    async with AsyncExitStack() as stack:
        for build in STANDARD:
            await stack.enter_async_context(running_service(build(settings), settings))
        await stack.enter_async_context(running_service(calllog.service(), settings))
        for n in range(EDGES):
            edge_settings = replace(settings, edge_id=f"edge{n}")
            load.edges.append(await stack.enter_async_context(running_edge(edge_settings)))
            for m in range(CALLERS_PER_EDGE):
                load.add(f"edge{n}.c{m}", load.edges[-1])
        for n in range(ONE_EDGE_PER_CALL):
            load.add(f"own-edge.c{n}")
        try:
            yield load
        finally:
            await load.hang_up()
            accepted = load.accepted()

            def logged_all(written: list[Event]) -> bool:
                presses = {(e.call_id, e.sequence) for e in written if isinstance(e, KeyPress)}
                return accepted <= presses

            with contextlib.suppress(TimeoutError):
                await calllog.until(logged_all, timeout=30)
