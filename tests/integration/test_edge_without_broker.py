"""A call starts while no broker answers: the caller hears the timeout prompt, never silence,
and once the broker is back the held presses are published in order and new ones answered."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from contracts import KeyPress
from services.edge.bus import running_edge
from services.edge.edge import TIMEOUT_PROMPT
from services.edge.simulator import SimulatedSession
from services.runtime.app import running_service
from services.sales import service as sales
from tests.integration.conftest import SystemSettings, WatchedCallLog
from tools.private_nodes.broker import PrivateBroker


class Heard:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Condition()

    def out(self, line: str) -> None:
        self.lines.append(line)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def said(self, text: str, *, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: any(line.endswith(text) for line in self.lines))


@pytest.mark.timeout(180)
async def test_a_call_starts_without_a_broker_and_is_served_once_it_is_back(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    settings = SystemSettings(
        amqp_url=broker.url,
        calllog_path=tmp_path / "calllog.jsonl",
        spool_dir=tmp_path / "spool",
        http_port=-1,
        edge_id="edge-early",
        reply_timeout_s=2,
        press_ttl_ms=120_000,  # the held press is still worth answering when it arrives
    )
    calllog = WatchedCallLog(settings.calllog_path)
    heard = Heard()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running_service(sales.build(settings), settings))
        await stack.enter_async_context(running_service(calllog.service(), settings))
        await asyncio.to_thread(broker.stop)

        edge = await stack.enter_async_context(running_edge(settings))
        call = await edge.start_call(SimulatedSession(label="c", out=heard.out), source="s")
        held = (await edge.press(call, "1")).event
        await heard.said(TIMEOUT_PROMPT, timeout=30)  # told, not left in silence

        await asyncio.to_thread(broker.start)
        await calllog.until(
            lambda written: held.event_id in {e.event_id for e in written}, timeout=90
        )
        again = await edge.press(call, "1")
        assert await again.reply(timeout=30) is not None
        assert edge.link is not None and edge.link.up

    presses = [e for e in calllog.written if isinstance(e, KeyPress)]
    assert [p.sequence for p in presses][:1] == [1]
    assert {"call_started"} <= {e.type for e in calllog.written}
