"""The edge's broker adapter: publishes events with confirms, consumes its reply queue."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from contracts import topology as t
from contracts.replies import Reply, parse_reply
from services.edge.edge import Edge
from services.edge.publisher import BufferingPublisher
from services.runtime import broker
from services.runtime.app import bounded
from services.runtime.http import http_server
from services.runtime.metrics import Metrics
from services.runtime.runner import Outcome, Runner
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

# A reply queue outlives a broker restart and a brief disconnect of its edge (replies
# published meanwhile wait in it), not the edge itself.
REPLY_QUEUE_EXPIRES_MS = 60_000
REPLY_QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "quorum",
    "x-expires": REPLY_QUEUE_EXPIRES_MS,
}


@asynccontextmanager
async def running_edge(
    settings: Settings, *, metrics: Metrics | None = None
) -> AsyncIterator[Edge]:
    """An Edge wired to the broker, with its HTTP endpoints: ready to take calls once entered."""
    metrics = metrics if metrics is not None else Metrics()
    name = f"edge-{settings.edge_id}"
    connection = await broker.connect(settings.amqp_url, name=f"dtmf-{name}")
    link = broker.LinkState(connection)
    metrics.broker_connected.labels(name).set_function(lambda: float(link.up))
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=settings.prefetch)
        topo = await broker.declare_topology(channel)
        publisher = BufferingPublisher(
            topo.events,
            connection,
            metrics,
            capacity=settings.publish_buffer,
            confirm_timeout_s=settings.publish_timeout_s,
        )
        publisher.start()
        edge = Edge(
            edge_id=settings.edge_id,
            publisher=publisher,
            metrics=metrics,
            reply_timeout_s=settings.reply_timeout_s,
            barge_in=settings.barge_in,
            max_unanswered=settings.max_unanswered,
        )

        handled = {o: metrics.messages_handled.labels(name, o.value) for o in Outcome}
        runner: Runner[Reply] = Runner(
            name=name,
            decode=parse_reply,
            handle=edge.apply_reply,
            dead=topo.dead,
            identify=lambda reply: reply.reply_id,
            max_body_bytes=settings.max_body_bytes,
            on_outcome=lambda outcome: handled[outcome].inc(),
        )
        queue = await channel.declare_queue(
            t.reply_queue(settings.edge_id),
            durable=True,
            arguments=REPLY_QUEUE_ARGUMENTS,
        )
        await queue.bind(topo.replies, routing_key=settings.edge_id)
        tag = await queue.consume(runner)
        log.info("edge %s ready: replies on %s", settings.edge_id, queue.name)

        def readiness() -> str | None:
            if not link.up:
                return "not connected to the broker: presses are buffered"
            return None

        edge.link = link

        try:
            async with http_server(
                metrics, readiness, host=settings.http_host, port=settings.http_port
            ) as port:
                edge.http_port = port
                yield edge
        finally:
            for call in edge.calls:
                await edge.end_call(call, reason="edge_shutdown")
            await bounded(queue.cancel(tag), what="edge: cancel reply consumer", timeout=2)
            await runner.drained(timeout=settings.shutdown_timeout_s)
            await publisher.stop(timeout=settings.shutdown_timeout_s)
    finally:
        await bounded(connection.close(), what="edge: close", timeout=5)
