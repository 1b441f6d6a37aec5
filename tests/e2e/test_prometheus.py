"""A real Prometheus scrapes the running processes; the press-to-reply histogram is there."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contracts.topology import service_queue
from tools.demo import SERVICES, wait_for_consumers

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def process(
    *args: str, env: dict[str, str], stdin: bool = False
) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float) -> None:
    """Prometheus scrapes on its own clock and offers nothing to wait on: ask until it says."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("Prometheus never showed the expected series")
        await asyncio.sleep(0.5)


async def query(http: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    async with http.get(f"{base}/api/v1/query", params={"query": promql}) as response:
        body = await response.json()
    if body.get("status") != "success":
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def prometheus_config(path: Path, targets: list[str]) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "deploy/monitoring/alerts.yml")],
        "scrape_configs": [{"job_name": "dtmf-bus", "static_configs": [{"targets": targets}]}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_prometheus_scrapes_the_press_to_reply_histogram(
    amqp_url: str, tmp_path: Path
) -> None:
    base_env = {
        **os.environ,
        "AMQP_URL": amqp_url,
        "DTMF_HTTP_HOST": "127.0.0.1",
        "DTMF_CALLLOG_PATH": str(tmp_path / "calllog.jsonl"),
    }
    ports = {name: free_port() for name in (*SERVICES, "edge")}
    prom_port = free_port()
    prometheus_config(tmp_path / "prometheus.yml", [f"127.0.0.1:{p}" for p in ports.values()])
    prom = f"http://127.0.0.1:{prom_port}"
    async with AsyncExitStack() as stack:
        for name in SERVICES:
            await stack.enter_async_context(
                process(
                    sys.executable,
                    "-m",
                    "tools.cli",
                    "run",
                    name,
                    env={**base_env, "DTMF_HTTP_PORT": str(ports[name])},
                )
            )
        await wait_for_consumers(amqp_url, [service_queue(n) for n in SERVICES], timeout=60)
        edge = await stack.enter_async_context(
            process(
                sys.executable,
                "-m",
                "tools.cli",
                "edge",
                env={**base_env, "DTMF_HTTP_PORT": str(ports["edge"])},
                stdin=True,
            )
        )
        await stack.enter_async_context(
            process(
                "prometheus",
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                env=base_env,
            )
        )
        assert edge.stdin is not None and edge.stdout is not None
        edge.stdin.write(b"1\n9\n2\n")
        await edge.stdin.drain()
        said = []
        while len(said) < 3:
            line = (await asyncio.wait_for(edge.stdout.readline(), 30)).decode()
            if "agent says:" in line:
                said.append(line.split("agent says: ", 1)[1].strip())
        assert said[0] == "Routing you to Sales..."

        http = await stack.enter_async_context(aiohttp.ClientSession())

        async def all_scraped() -> bool:
            try:
                count = await query(http, prom, "sum(dtmf_press_to_reply_seconds_count)")
                up = await query(http, prom, 'sum(up{job="dtmf-bus"})')
            except aiohttp.ClientError:
                return False  # Prometheus still starting
            return (
                bool(count and up)
                and float(count[0]["value"][1]) >= 3
                and float(up[0]["value"][1]) == len(ports)
            )

        await eventually(all_scraped, timeout=60)
        buckets = await query(http, prom, "dtmf_press_to_reply_seconds_bucket")
        assert {float(b["metric"]["le"]) for b in buckets} >= {0.005, 0.01, 0.05, 0.1, 0.25, 1.0}
        p99 = await query(
            http, prom, "histogram_quantile(0.99, sum by (le) (dtmf_press_to_reply_seconds_bucket))"
        )
        assert 0 < float(p99[0]["value"][1]) <= 5
        replied = await query(
            http, prom, 'dtmf_messages_handled_total{service="sales",outcome="replied"}'
        )
        assert float(replied[0]["value"][1]) == 1

        async def rules_evaluated() -> bool:
            async with http.get(f"{prom}/api/v1/rules") as response:
                groups = (await response.json())["data"]["groups"]
            health = {r["health"] for g in groups for r in g["rules"]}
            assert "err" not in health, groups
            return bool(groups) and health == {"ok"}

        await eventually(rules_evaluated, timeout=30)
        edge.stdin.write(b"q\n")
        await edge.stdin.drain()
        assert await asyncio.wait_for(edge.wait(), 30) == 0
