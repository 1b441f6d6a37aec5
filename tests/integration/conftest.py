"""Start real services and edges, in this process, against a private vhost of the broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TypeVar

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from contracts import Action, Event
from contracts import topology as t
from services.calllog.service import JsonLinesLog
from services.calllog.settings import CallLogSettings
from services.edge.bus import running_edge
from services.edge.edge import Edge
from services.edge.settings import EdgeSettings
from services.menu import service as menu
from services.runtime.app import running_service
from services.runtime.service import ConsumerService, all_events
from services.runtime.settings import Settings
from services.sales import service as sales
from services.support import service as support
from tools.private_nodes.broker import PrivateBroker

Inbox = asyncio.Queue[AbstractIncomingMessage]
STANDARD = (sales.build, support.build, menu.build)
Role = TypeVar("Role", bound=Settings)


@dataclass(frozen=True, kw_only=True)
class SystemSettings(EdgeSettings, CallLogSettings):
    """Every role's settings in one: these tests run a whole system in one process, so one
    description serves its edges, its call log and its other services (each reads its part)."""

    def of(self, role: type[Role]) -> Role:
        """The part a process of `role` reads: for settings that leave this process (an edge
        pod pickles them into its job processes, which need not import the tests)."""
        return role(**{f.name: getattr(self, f.name) for f in fields(role)})


class WatchedCallLog:
    """The real call log, plus a way to wait until it has written what a test expects
    (it acks after a group commit, some milliseconds after the edge got its replies)."""

    def __init__(self, path: Path) -> None:
        self._sink = JsonLinesLog(path)
        self.written: list[Event] = []
        self._changed = asyncio.Condition()

    def service(self) -> ConsumerService:
        return ConsumerService(
            name="calllog", bindings=all_events(), handler=self.write, interactive=False
        )

    async def write(self, event: Event) -> list[Action]:
        result = await self._sink.write(event)
        async with self._changed:
            self.written.append(event)
            self._changed.notify_all()
        return result

    async def until(self, done: Callable[[list[Event]], bool], *, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: done(self.written))

    async def contain(self, ids: set[str], *, timeout: float) -> None:
        await self.until(lambda written: ids <= {e.event_id for e in written}, timeout=timeout)


@dataclass
class System:
    settings: SystemSettings
    stack: AsyncExitStack
    calllog: WatchedCallLog

    async def start_service(self, service: ConsumerService) -> None:
        await self.stack.enter_async_context(running_service(service, self.settings))

    async def start_edge(self, edge_id: str) -> Edge:
        settings = replace(self.settings, edge_id=edge_id)
        return await self.stack.enter_async_context(running_edge(settings))


@pytest.fixture
def broker() -> Iterator[PrivateBroker]:
    """A RabbitMQ node of this test's own, which the test may stop and start."""
    node = PrivateBroker()
    node.start()
    try:
        yield node
    finally:
        node.remove()


@pytest.fixture
def settings(amqp_url: str, tmp_path: Path) -> SystemSettings:
    return SystemSettings(
        amqp_url=amqp_url,
        calllog_path=tmp_path / "calllog.jsonl",
        spool_dir=tmp_path / "spool",  # never another test's spool, replayed into this vhost
        reply_timeout_s=5.0,
        shutdown_timeout_s=5.0,
        edge_id="edge-test",
        http_port=-1,
    )


@pytest.fixture
async def system(settings: SystemSettings) -> AsyncIterator[System]:
    """The standard services running; edges are started by each test."""
    async with AsyncExitStack() as stack:
        sys_ = System(settings=settings, stack=stack, calllog=WatchedCallLog(settings.calllog_path))
        for build in STANDARD:
            await sys_.start_service(build(settings))
        await sys_.start_service(sys_.calllog.service())
        yield sys_


@asynccontextmanager
async def tap(
    amqp_url: str, queue_name: str
) -> AsyncIterator[asyncio.Queue[AbstractIncomingMessage]]:
    """Consume an existing queue into an asyncio.Queue (acking), for assertions."""
    received: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)

        async def collect(message: AbstractIncomingMessage) -> None:
            await message.ack()
            await received.put(message)

        await queue.consume(collect)
        yield received


async def until_queue_holds(amqp_url: str, name: str, count: int, *, timeout: float = 10) -> None:
    """Wait for queue `name` to report at least `count` ready messages.

    Nothing tells anyone but the publisher (a service, or the broker itself) that a quorum
    queue has committed a message, and a copy routed to another queue can arrive first;
    so this asks the queue, boundedly.
    """
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        async with asyncio.timeout(timeout):
            while True:
                queue = await channel.declare_queue(name, passive=True)
                if (queue.declaration_result.message_count or 0) >= count:
                    return
                await asyncio.sleep(0.02)


async def publish_raw(
    amqp_url: str,
    body: bytes,
    *,
    routing_key: str,
    exchange: str = t.EVENTS_EXCHANGE,
    content_type: str | None = t.CONTENT_TYPE,
) -> None:
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange)
        await target.publish(
            aio_pika.Message(body=body, content_type=content_type), routing_key=routing_key
        )
