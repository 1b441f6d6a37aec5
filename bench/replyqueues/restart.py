"""What a broker restart keeps, per design (a private node, stopped and started)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aio_pika.abc import AbstractRobustConnection as RobustConnection
from aio_pika.exceptions import ChannelNotFoundEntity, DeliveryError
from aiormq.exceptions import ChannelLockedResource

from bench.replyqueues.calls import declare_reply_queue
from bench.replyqueues.designs import POD_PREFIX, Design
from bench.replyqueues.nodes import Node, declare_exchange, private_vhost
from contracts import topology as t

log = logging.getLogger("bench.replyqueues")


@dataclass
class Edge:
    """One edge process of a design: a robust connection holding its reply queue."""

    design: Design
    call_id: str
    connection: RobustConnection
    queue: AbstractQueue
    reconnected: asyncio.Event
    received: list[bytes] = field(default_factory=list)

    @property
    def queue_name(self) -> str:
        return self.queue.name

    async def consume(self) -> None:
        async def keep(message: AbstractIncomingMessage) -> None:
            self.received.append(message.body)
            await message.ack()

        await self.queue.consume(keep)


async def open_edge(url: str, design: Design, *, reconnect_s: float = 5.0) -> Edge:
    """Declare and bind as the edge does, without consuming yet: replies wait in the queue."""
    call_id = f"restart-{design.name}-{uuid.uuid4().hex[:6]}"
    connection = await aio_pika.connect_robust(url, reconnect_interval=reconnect_s)
    reconnected = asyncio.Event()
    connection.reconnect_callbacks.add(lambda *_: reconnected.set())
    channel = await connection.channel()
    queue: AbstractQueue
    if design.shared:
        queue = await channel.declare_queue(
            f"{POD_PREFIX}{call_id}", durable=True, arguments=dict(design.arguments)
        )
    else:
        queue = await declare_reply_queue(channel, design, call_id, None)
    await queue.bind(t.REPLIES_EXCHANGE, routing_key=call_id)
    return Edge(design, call_id, connection, queue, reconnected)


async def publish_replies(url: str, routing_keys: Sequence[str], count: int) -> dict[str, int]:
    """Publish as a service does (persistent, mandatory, confirmed): how many were routed."""
    routed = dict.fromkeys(routing_keys, 0)
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange(t.REPLIES_EXCHANGE)
        for key in routing_keys:
            for i in range(count):
                message = aio_pika.Message(
                    f"reply {i}".encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                )
                with contextlib.suppress(DeliveryError):  # returned: no queue bound
                    await exchange.publish(message, routing_key=key, mandatory=True)
                    routed[key] += 1
    finally:
        await connection.close()
    return routed


async def probe_queue(url: str, name: str) -> int | str:
    """Messages in a queue as the broker has it now (a passive declare from another
    connection), or "absent", or "exclusive" (another connection's: the broker won't say)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        try:
            queue = await channel.declare_queue(name, passive=True)
        except ChannelLockedResource:
            return "exclusive"
        except ChannelNotFoundEntity:
            return "absent"
        result = queue.declaration_result
        return int(result.message_count or 0) if result is not None else 0
    finally:
        await connection.close()


async def _drain(edges: Sequence[Edge], expected: Mapping[str, int], timeout: float) -> None:
    """Let consumers take what comes, until each edge has `expected` or `timeout`."""
    for _ in range(max(1, int(timeout / 0.1))):
        if all(len(e.received) >= expected[e.call_id] for e in edges):
            return
        await asyncio.sleep(0.1)


async def restart_phase(
    url: str, chosen: Sequence[Design], restart: Callable[[], float], replies: int = 5
) -> dict[str, dict[str, Any]]:
    """Per design: replies confirmed before a broker restart, and what there is after it.

    `restart` stops and starts the node (blocking) and returns the seconds it was down.
    """
    edges = [await open_edge(url, d) for d in chosen if d.queue]
    try:
        before = await publish_replies(url, [e.call_id for e in edges], replies)
        queued = {e.call_id: await probe_queue(url, e.queue_name) for e in edges}
        down_s = await asyncio.to_thread(restart)
        up = time.perf_counter()
        # Read the broker's own state before a robust client redeclares anything.
        raced = {e.call_id: e.reconnected.is_set() for e in edges}
        kept = {e.call_id: await probe_queue(url, e.queue_name) for e in edges}
        back = {e.call_id: await _reconnected_after(e, up) for e in edges}
        for edge in edges:
            if back[edge.call_id] is not None:
                await edge.consume()
        await _drain(edges, {e.call_id: replies for e in edges}, timeout=3.0)
        came_out = {e.call_id: len(e.received) for e in edges}
        after = await publish_replies(url, [e.call_id for e in edges], 1)
        await _drain(edges, {k: v + 1 for k, v in came_out.items()}, timeout=3.0)
        return {
            e.design.name: {
                "design": e.design.name,
                "label": e.design.label,
                "replies_published": replies,
                "replies_routed_before": before[e.call_id],
                "queued_before": queued[e.call_id],
                "broker_down_s": round(down_s, 2),
                "queue_after_restart": kept[e.call_id] != "absent",
                "replies_kept_by_broker": _count(kept[e.call_id]),
                "edge_reconnected_before_probe": raced[e.call_id],
                "edge_back_after_s": back[e.call_id],
                "replies_out_after_restart": came_out[e.call_id],
                "new_reply_routed": after[e.call_id] == 1,
                "new_reply_received": len(e.received) > came_out[e.call_id],
            }
            for e in edges
        }
    finally:
        await _close_edges(edges)


def _count(probe: int | str) -> int | None:
    return probe if isinstance(probe, int) else None


async def _reconnected_after(edge: Edge, up: float, timeout: float = 30.0) -> float | None:
    """Seconds from the broker's return until the edge's robust connection restored its
    queue, binding and consumer list (None: not within `timeout`)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await edge.reconnected.wait()
        return round(time.perf_counter() - up, 2)
    return None


async def _close_edges(edges: Sequence[Edge]) -> None:
    for edge in edges:
        with contextlib.suppress(Exception):
            if edge.design.shared or edge.design.durable:
                channel = await edge.connection.channel()
                await channel.queue_delete(edge.queue_name)
            await edge.connection.close()


def restart_on(broker: Any) -> float:
    """Stop and start a private node (blocking); seconds it was away."""
    began = time.perf_counter()
    broker.stop()
    broker.start()
    return time.perf_counter() - began


async def run_restart(node: Node, broker: Any, chosen: Sequence[Design], replies: int) -> Any:
    log.info("restart phase on %s: %d replies per design, then a restart", node.name, replies)
    with private_vhost(node) as (url, _):
        await declare_exchange(url)
        return await restart_phase(url, chosen, lambda: restart_on(broker), replies)
