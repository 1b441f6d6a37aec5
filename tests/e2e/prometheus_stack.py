"""The bus as a user runs it, scraped by a real Prometheus: the processes and the Prometheus
plumbing the end-to-end tests on metrics share (test_prometheus.py, test_dashboard.py).

`running_bus` starts every consumer service (`dtmf-bus run <name>`), a keypad edge
(`dtmf-bus edge`, keys on its stdin) and a Prometheus that scrapes them all as job `dtmf-bus`,
plus, when given one, a broker's rabbitmq_prometheus endpoint as job `rabbitmq` at
/metrics/per-object, the way deploy/monitoring/prometheus.yml does."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contracts.topology import service_queue
from tools.demo import SERVICES, wait_for_consumers

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_INTERVAL_S = 1

PROMETHEUS_MISSING = (
    "prometheus is not installed (Debian's `prometheus` package, the one that brings promtool: "
    "`make promtool` runs deploy/monitoring/ensure-promtool.sh, which installs it as root)."
)


def prometheus_binary() -> str:
    """The prometheus executable; the test fails, never skips, without one."""
    path = shutil.which("prometheus") or shutil.which("prometheus", path="/usr/bin:/usr/local/bin")
    if path is None:
        pytest.fail(PROMETHEUS_MISSING, pytrace=False)
    return path


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


async def eventually(
    check: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str = "Prometheus never showed the expected series",
) -> None:
    """Prometheus scrapes on its own clock and offers nothing to wait on: ask until it says."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.5)


async def api(
    http: aiohttp.ClientSession, base: str, path: str, params: dict[str, str]
) -> dict[str, Any]:
    """One call to Prometheus's HTTP API: its whole answer (status, data or error)."""
    async with http.get(f"{base}{path}", params=params) as response:
        body: dict[str, Any] = await response.json()
    return body


async def query(http: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's series, [] when it has none or fails."""
    body = await api(http, base, "/api/v1/query", {"query": promql})
    if body.get("status") != "success":
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def prometheus_config(path: Path, targets: list[str], *, broker: str | None = None) -> None:
    scrape_configs: list[dict[str, Any]] = [
        {"job_name": "dtmf-bus", "static_configs": [{"targets": targets}]}
    ]
    if broker is not None:
        scrape_configs.append(
            {
                "job_name": "rabbitmq",
                "metrics_path": "/metrics/per-object",
                "static_configs": [{"targets": [broker]}],
            }
        )
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL_S}s",
            "evaluation_interval": f"{SCRAPE_INTERVAL_S}s",
        },
        "rule_files": [str(ROOT / "deploy/monitoring/alerts.yml")],
        "scrape_configs": scrape_configs,
    }
    path.write_text(json.dumps(config))  # JSON is YAML


@dataclass
class Bus:
    """The running processes, and a client for the Prometheus that scrapes them."""

    edge: asyncio.subprocess.Process
    prometheus: str  # base URL
    http: aiohttp.ClientSession
    targets: int  # dtmf-bus scrape targets: every service and the edge
    broker: str | None  # the rabbitmq job's target, if scraped
    started: float  # Unix time Prometheus was started

    async def press(self, keys: str, *, timeout: float = 30) -> list[str]:
        """The caller presses `keys` on the keypad; what the agent said, one line per key."""
        assert self.edge.stdin is not None and self.edge.stdout is not None
        self.edge.stdin.write("".join(f"{key}\n" for key in keys).encode())
        await self.edge.stdin.drain()
        said: list[str] = []
        while len(said) < len(keys):
            line = (await asyncio.wait_for(self.edge.stdout.readline(), timeout)).decode()
            if not line:
                raise AssertionError(f"the edge exited after saying {said}")
            if "agent says:" in line:
                said.append(line.split("agent says: ", 1)[1].strip())
        return said

    async def scraped(self, *, presses: int, timeout: float = 60) -> None:
        """Until Prometheus has every target up and has seen `presses` answered presses."""

        async def seen() -> bool:
            try:
                count = await query(
                    self.http, self.prometheus, "sum(dtmf_press_to_reply_seconds_count)"
                )
                up = await query(self.http, self.prometheus, 'sum(up{job="dtmf-bus"})')
                broker = await query(self.http, self.prometheus, 'sum(up{job="rabbitmq"})')
            except aiohttp.ClientError:
                return False  # Prometheus still starting
            return (
                bool(count and up)
                and float(count[0]["value"][1]) >= presses
                and float(up[0]["value"][1]) == self.targets
                and (self.broker is None or (bool(broker) and float(broker[0]["value"][1]) == 1))
            )

        await eventually(seen, timeout=timeout)

    async def hang_up(self) -> None:
        assert self.edge.stdin is not None
        self.edge.stdin.write(b"q\n")
        await self.edge.stdin.drain()
        assert await asyncio.wait_for(self.edge.wait(), 30) == 0


@asynccontextmanager
async def running_bus(
    amqp_url: str, tmp_path: Path, *, broker: str | None = None
) -> AsyncIterator[Bus]:
    """Every service and a keypad edge on `amqp_url`, and a Prometheus scraping them (and the
    rabbitmq_prometheus endpoint `broker`, host:port, when given). All stop on the way out."""
    prometheus = prometheus_binary()
    base_env = {
        **os.environ,
        "AMQP_URL": amqp_url,
        "DTMF_HTTP_HOST": "127.0.0.1",
        "DTMF_CALLLOG_PATH": str(tmp_path / "calllog.jsonl"),
    }
    ports = {name: free_port() for name in (*SERVICES, "edge")}
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    prometheus_config(config, [f"127.0.0.1:{p}" for p in ports.values()], broker=broker)
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
        started = time.time()
        await stack.enter_async_context(
            process(
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                env=base_env,
            )
        )
        http = await stack.enter_async_context(aiohttp.ClientSession())
        yield Bus(
            edge=edge,
            prometheus=f"http://127.0.0.1:{prom_port}",
            http=http,
            targets=len(ports),
            broker=broker,
            started=started,
        )
