"""A call that ends while the broker is away loses nothing: its edge spools what it could not
publish, and the next edge process publishes it once the broker is back."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

import pytest

from contracts import CallEnded, KeyPress
from services.edge.bus import running_edge
from services.edge.simulator import SimulatedSession
from services.runtime.app import running_service
from services.runtime.metrics import Metrics
from services.sales import service as sales
from tests.integration.conftest import SystemSettings, WatchedCallLog
from tools.private_nodes.broker import PrivateBroker


def spooled(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl")) if directory.is_dir() else []


@pytest.mark.timeout(180)
async def test_events_of_a_call_that_ends_while_the_broker_is_away_reach_the_call_log(
    broker: PrivateBroker, tmp_path: Path
) -> None:
    settings = SystemSettings(
        amqp_url=broker.url,
        calllog_path=tmp_path / "calllog.jsonl",
        spool_dir=tmp_path / "spool",
        http_port=-1,
        shutdown_timeout_s=1,  # how long a hanging-up call waits for confirms
    )
    calllog = WatchedCallLog(settings.calllog_path)
    said: list[str] = []
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running_service(sales.build(settings), settings))
        await stack.enter_async_context(running_service(calllog.service(), settings))

        first_metrics = Metrics()
        async with running_edge(
            replace(settings, edge_id="edge-first"), metrics=first_metrics
        ) as edge:
            call = await edge.start_call(SimulatedSession(label="c", out=said.append), source="s")
            answered = await edge.press(call, "1")
            assert await answered.reply(timeout=30) is not None
            await asyncio.to_thread(broker.stop)
            held = [(await edge.press(call, key)).event for key in "12"]
            await edge.end_call(call)  # the caller hangs up; the process then ends
        assert (
            first_metrics.registry.get_sample_value(
                "dtmf_events_dropped_total", {"type": "key_press"}
            )
            == 0
        )
        assert len(spooled(settings.spool_dir)) == 1

        await asyncio.to_thread(broker.start)
        # The next edge process (the next call's, in register mode) publishes the spool.
        await stack.enter_async_context(running_edge(replace(settings, edge_id="edge-next")))
        wanted = {e.event_id for e in held}
        await calllog.until(
            lambda written: (
                wanted <= {e.event_id for e in written}
                and any(isinstance(e, CallEnded) for e in written)
            ),
            timeout=90,
        )
    presses = [e for e in calllog.written if isinstance(e, KeyPress)]
    # In the order they were pressed, after the press answered before the outage.
    assert [p.sequence for p in presses if p.event_id in wanted] == [2, 3]
    assert spooled(settings.spool_dir) == []
