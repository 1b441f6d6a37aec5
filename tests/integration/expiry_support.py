"""What the queue expiry tests share: the operator policy on a test's vhost, replicas of the
held service as real processes, a caller who presses one key, and bounded waits."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aio_pika
from aio_pika.exceptions import ChannelNotFoundEntity

from contracts import topology as t
from contracts.control import ServiceAnnouncement
from services.edge.edge import Edge
from services.runtime.directory import ServiceDirectory
from services.runtime.settings import Settings
from tests.integration import held_service
from tests.support import RecordingSession
from tools.demo import wait_for_consumers

HELD_SERVICE = f"{held_service.__name__}:build"
# RabbitMQ looks at a quorum queue's expiry on the queue's tick (every 5 s by default).
QUORUM_TICK_S = 5.0


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "--quiet", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def queue_expiry(amqp_url: str, *, expires_ms: int) -> Iterator[t.QueuePolicy]:
    """The policy of contracts/topology.py on this test's vhost, as `make broker` sets it."""
    policy = t.queue_expiry_policy(expires_ms=expires_ms)
    vhost = unquote(urlsplit(amqp_url).path.removeprefix("/")) or "/"
    rabbitmqctl(
        "set_operator_policy", "-p", vhost, "--apply-to", policy.apply_to,
        "--priority", str(policy.priority), policy.name, policy.pattern,
        json.dumps(policy.definition),
    )  # fmt: skip
    try:
        yield policy
    finally:
        rabbitmqctl("clear_operator_policy", "-p", vhost, policy.name)


async def wait_until_gone(amqp_url: str, queue: str, *, timeout: float) -> float:
    """Seconds until the queue no longer exists (a passive declaration, which does not count
    as using it, fails), or TimeoutError."""
    started = time.monotonic()
    async with await aio_pika.connect(amqp_url) as connection, asyncio.timeout(timeout):
        while True:
            channel = await connection.channel()
            try:
                await channel.declare_queue(queue, passive=True)
            except ChannelNotFoundEntity:
                return time.monotonic() - started
            await channel.close()
            await asyncio.sleep(0.2)  # the next look


class Watched:
    """The menu's directory, which a test can wait on: told of every announcement it hears."""

    def __init__(self, directory: ServiceDirectory) -> None:
        self.directory = directory
        self._heard = asyncio.Event()
        learn = directory.update

        def update(announcement: ServiceAnnouncement) -> None:
            learn(announcement)
            self._heard.set()

        directory.update = update  # type: ignore[method-assign]

    def offered(self) -> list[str]:
        return [offer.key for offer in self.directory.offers()]

    async def offering(self, key: str, *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while True:
                self._heard.clear()
                if key in self.offered():
                    return
                await self._heard.wait()


class Replicas:
    """The held service as OS processes: each next one is started ahead and held (loaded,
    not connected), so `start` costs a connection, not Python's start-up."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._held: asyncio.subprocess.Process | None = None
        self.running: asyncio.subprocess.Process | None = None
        self._all: list[asyncio.subprocess.Process] = []

    async def _spawn(self) -> asyncio.subprocess.Process:
        env = {**os.environ, "AMQP_URL": self._settings.amqp_url, "DTMF_HTTP_PORT": "-1"}
        env["DTMF_PRESS_TTL_MS"] = str(self._settings.press_ttl_ms)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tools.cli", "run", HELD_SERVICE,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, env=env,
        )  # fmt: skip
        self._all.append(proc)
        return proc

    async def prepare(self) -> None:
        if self._held is None:
            self._held = await self._spawn()

    async def start(self) -> None:
        """Let the held replica go and wait until it consumes; hold the next one."""
        await self.prepare()
        proc, self._held = self._held, None
        assert proc is not None and proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        queue = t.service_queue(held_service.NAME)
        await wait_for_consumers(self._settings.amqp_url, [queue], timeout=30)
        self.running = proc
        await self.prepare()

    async def crash(self) -> None:
        """SIGKILL: gone without a word (no "down" announcement)."""
        assert self.running is not None
        self.running.kill()
        await self.running.wait()
        self.running = None

    async def close(self) -> None:
        for proc in self._all:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@asynccontextmanager
async def replicas(settings: Settings) -> AsyncIterator[Replicas]:
    group = Replicas(settings)
    try:
        yield group
    finally:
        await group.close()


@dataclass(frozen=True)
class Heard:
    event_id: str
    sent_at: float  # time.monotonic()
    said: str
    after_s: float


async def press_once(edge: Edge, key: str, *, listen_s: float) -> Heard:
    """A caller who presses `key` once and waits for the first thing the agent says."""
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    sent_at = time.monotonic()
    press = (await edge.press(call, key)).event
    [said] = (await session.said_count(1, timeout=listen_s))[:1]
    heard = Heard(press.event_id, sent_at, said, time.monotonic() - sent_at)
    await edge.end_call(call, reason="caller_hangup")
    return heard
