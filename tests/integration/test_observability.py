"""/metrics, /healthz and /readyz of the real processes' HTTP side, scraped over HTTP."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import replace

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.edge.bus import running_edge
from services.edge.simulator import scripted_call
from services.menu import service as menu
from services.runtime.app import running_service
from services.runtime.metrics import METRIC_NAMES
from services.sales import service as sales
from tests.integration.conftest import SystemSettings
from tools.private_nodes.broker import PrivateBroker

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int | None) -> Samples:
    assert port is not None
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        text = await r.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def status(port: int | None, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_follow_a_simulated_call(settings: SystemSettings) -> None:
    served = replace(settings, http_port=0, http_host="127.0.0.1")
    async with AsyncExitStack() as stack:
        sales_proc = await stack.enter_async_context(running_service(sales.build(served), served))
        await stack.enter_async_context(running_service(menu.build(settings), settings))
        edge = await stack.enter_async_context(running_edge(served))
        result = await scripted_call(edge, ["1", "9", "1"], reply_timeout=5, out=lambda _: None)
        assert result.unanswered == []

        at_edge = await scrape(edge.http_port)
        at_sales = await scrape(sales_proc.http_port)
        assert await status(edge.http_port, "/healthz") == (200, "ok\n")
        assert await status(sales_proc.http_port, "/readyz") == (200, "ready\n")

    assert value(at_edge, "dtmf_presses_received_total", key="1", source="simulator") == 2
    assert value(at_edge, "dtmf_presses_received_total", key="9", source="simulator") == 1
    assert value(at_edge, "dtmf_events_published_total", type="key_press") == 3
    assert value(at_edge, "dtmf_events_confirmed_total", type="key_press") == 3
    assert value(at_edge, "dtmf_events_confirmed_total", type="call_started") == 1
    assert value(at_edge, "dtmf_events_publish_failed_total", type="key_press") == 0
    assert value(at_edge, "dtmf_press_to_reply_seconds_count") == 3
    assert value(at_edge, "dtmf_press_to_reply_seconds_bucket", le="+Inf") == 3
    assert value(at_edge, "dtmf_live_calls") == 0
    assert value(at_edge, "dtmf_replies_applied_total", outcome="applied") == 3
    assert value(at_edge, "dtmf_publish_buffered") == 0
    assert value(at_edge, "dtmf_broker_connected", service="edge-edge-test") == 1
    assert value(at_sales, "dtmf_messages_handled_total", service="sales", outcome="replied") == 2
    assert value(at_sales, "dtmf_handler_duration_seconds_count", service="sales") == 2
    bounds = {
        dict(labels).get("le")
        for (name, labels) in at_edge
        if name == "dtmf_press_to_reply_seconds_bucket"
    }
    assert {"0.005", "0.01", "0.05", "0.1", "0.25", "1.0"} <= bounds
    exposed = {name for name, _ in at_edge} | {name for name, _ in at_sales}
    # A refused transfer's series is born with the service that asked: none in this call.
    for name in set(METRIC_NAMES) - {"dtmf_transfers_refused_total"}:
        assert any(n == name or n.startswith(name + "_") for n in exposed), name
    assert not any("call" in key for _, labels in at_edge for key, _ in labels)


@pytest.mark.timeout(120)
async def test_readiness_flips_when_the_broker_goes_away_and_back(
    broker: PrivateBroker, settings: SystemSettings
) -> None:
    served = replace(settings, amqp_url=broker.url, http_port=0, http_host="127.0.0.1")
    async with (
        running_service(sales.build(served), served) as service,
        running_edge(served) as edge,
    ):
        assert edge.link is not None
        for port in (service.http_port, edge.http_port):
            assert (await status(port, "/readyz"))[0] == 200

        await asyncio.to_thread(broker.stop)
        await service.link.wait_for(False, timeout=30)
        await edge.link.wait_for(False, timeout=30)
        code, text = await status(service.http_port, "/readyz")
        assert (code, text) == (503, "not ready: not connected to the broker\n")
        assert (await status(edge.http_port, "/readyz"))[0] == 503
        assert (await status(service.http_port, "/healthz"))[0] == 200  # alive, just not ready
        assert value(await scrape(service.http_port), "dtmf_broker_connected", service="sales") == 0

        await asyncio.to_thread(broker.start)
        await service.link.wait_for(True, timeout=60)
        await edge.link.wait_for(True, timeout=60)
        for port in (service.http_port, edge.http_port):
            assert (await status(port, "/readyz"))[0] == 200
        # ...and it really consumes again: a press is answered.
        result = await scripted_call(edge, ["1"], reply_timeout=10, out=lambda _: None)
        assert result.unanswered == []
