"""Restart the broker process while calls press keys: nothing accepted is lost or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from contracts import KeyPress
from services.edge.bus import running_edge
from services.edge.calls import Call
from services.edge.edge import BUSY_PROMPT, Edge, EdgeBusy
from services.edge.simulator import SimulatedSession
from services.menu import service as menu
from services.runtime.app import running_service
from services.sales import service as sales
from services.support import service as support
from tests.integration.conftest import SystemSettings, WatchedCallLog
from tools.private_nodes.broker import PrivateBroker

KEYS = ["1", "9", "2", "0", "*", "#", "5"]
REPLY_TIMEOUT_S = 30  # longer than the restart: presses held meanwhile are answered after it


class Tally:
    """Counts what the agent said across calls (answers apart from "busy") and lets a test
    wait for a total."""

    def __init__(self) -> None:
        self.said = 0
        self.busy = 0
        self._changed = asyncio.Condition()

    def out(self, line: str) -> None:
        if " agent says: " not in line:
            return
        if line.endswith(BUSY_PROMPT):
            self.busy += 1
        else:
            self.said += 1
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def reach(self, total: int, *, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.said >= total)


async def caller(
    edge: Edge, tally: Tally, stop: asyncio.Event, accepted: list[KeyPress], label: str
) -> Call:
    """Presses, waits for the answer, presses again: a patient caller, who must hear an
    answer to every press: a reply, or the edge's timeout prompt (a reply on its way to
    the edge's reply queue when the broker stops is lost with that queue). Silence past
    the reply timeout fails the test."""
    call = await edge.start_call(SimulatedSession(label=label, out=tally.out), source="simulator")
    loop = asyncio.get_running_loop()
    n = 0
    while not stop.is_set():
        handle = await edge.press(call, KEYS[n % len(KEYS)])
        accepted.append(handle.event)
        n += 1
        pressed = loop.time()
        if await handle.reply(timeout=REPLY_TIMEOUT_S + 30) is None:
            assert loop.time() - pressed < REPLY_TIMEOUT_S + 30, f"silence after {handle.event}"
    return call


async def impatient_caller(
    edge: Edge, tally: Tally, stop: asyncio.Event, accepted: list[KeyPress]
) -> tuple[Call, int]:
    """Presses every 20 ms without waiting for answers, so presses arrive mid-outage. Its
    answers come from different services and may cross: a reply to an older press that
    arrives after a newer one was answered is dropped as superseded (see Order per call).
    While the broker is away its presses pile up unanswered, and past the edge's shedding
    bound it is told "busy": that is an answer too (the press was never sent)."""
    call = await edge.start_call(SimulatedSession(label="hurry", out=tally.out), source="simulator")
    n = shed = 0
    while not stop.is_set():
        try:
            accepted.append((await edge.press(call, KEYS[n % len(KEYS)])).event)
        except EdgeBusy:
            shed += 1
        n += 1
        await asyncio.sleep(0.02)  # the caller's pace, not a wait for a result
    return call, shed


def sample(edge: Edge, name: str, **labels: str) -> float:
    return edge.metrics.registry.get_sample_value(name, labels) or 0.0


async def every_press_settled(tally: Tally, edge: Edge, presses: int, *, timeout: float) -> None:
    """Until each press was answered or its answer superseded. A superseded reply says
    nothing, so the count it lowers is read again after each answer or a short wait."""
    async with asyncio.timeout(timeout):
        while True:
            superseded = int(sample(edge, "dtmf_replies_applied_total", outcome="superseded"))
            if tally.said + superseded >= presses:
                return
            with contextlib.suppress(TimeoutError):
                await tally.reach(presses - superseded, timeout=0.5)


@pytest.mark.timeout(180)
async def test_broker_restart_loses_and_doubles_nothing(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    settings = SystemSettings(
        amqp_url=broker.url,
        calllog_path=tmp_path / "calllog.jsonl",
        spool_dir=tmp_path / "spool",
        http_port=-1,
        edge_id="edge-restart",
        press_ttl_ms=120_000,
        reply_timeout_s=REPLY_TIMEOUT_S,
        shutdown_timeout_s=5,
    )
    log = WatchedCallLog(settings.calllog_path)
    tally = Tally()
    accepted: list[KeyPress] = []
    stop = asyncio.Event()
    async with AsyncExitStack() as stack:
        for build in (sales.build, support.build, menu.build):
            await stack.enter_async_context(running_service(build(settings), settings))
        await stack.enter_async_context(running_service(log.service(), settings))
        edge = await stack.enter_async_context(running_edge(settings))
        callers = [
            asyncio.create_task(caller(edge, tally, stop, accepted, f"c{n}")) for n in range(4)
        ]
        hurry = asyncio.create_task(impatient_caller(edge, tally, stop, accepted))
        await tally.reach(20, timeout=30)
        before = tally.said

        await asyncio.to_thread(broker.stop)
        await asyncio.to_thread(broker.start)

        # Every process reconnects by itself: 20 more answers arrive after the restart.
        await tally.reach(before + 20, timeout=90)
        stop.set()
        calls = await asyncio.wait_for(asyncio.gather(*callers), 90)
        hurried, shed = await asyncio.wait_for(hurry, 90)
        calls.append(hurried)
        await every_press_settled(tally, edge, len(accepted), timeout=90)
        for call in calls:
            await edge.end_call(call)
        await log.contain({e.event_id for e in accepted}, timeout=90)

    records = [json.loads(line) for line in settings.calllog_path.read_text().splitlines()]
    logged = Counter(r["event_id"] for r in records if r["type"] == "key_press")
    accepted_ids = {e.event_id for e in accepted}
    failed = sample(edge, "dtmf_events_publish_failed_total", type="key_press")
    print(
        f"\nbroker restart: presses accepted {len(accepted)}, answered {tally.said}, "
        f"logged {len(logged)} (answered before the restart: {before}); superseded "
        f"{sample(edge, 'dtmf_replies_applied_total', outcome='superseded'):.0f}; "
        f"publish attempts that failed and were retried: {failed:.0f}; "
        f"edge reply timeouts: {sample(edge, 'dtmf_reply_timeouts_total'):.0f}; "
        f"shed (told busy): {shed}"
    )
    assert set(logged) == accepted_ids
    assert max(logged.values()) == 1, "a press was logged twice"
    superseded = sample(edge, "dtmf_replies_applied_total", outcome="superseded")
    # An answer (a reply, or the timeout prompt followed by a late reply) for every press.
    assert tally.said + superseded >= len(accepted), "a press was left in silence"
    assert shed == sample(edge, "dtmf_presses_shed_total"), "every shed press was counted"
