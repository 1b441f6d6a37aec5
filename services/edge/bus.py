"""The edge's broker adapter: publishes events with confirms, consumes its reply queue.

The broker side attaches in the background: an edge takes calls even when no broker answers
(their presses are held, then published in order, or spooled when the call ends first)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aio_pika.abc import AbstractQueue, AbstractRobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiormq.exceptions import ChannelInvalidStateError, ConnectionClosed

from contracts import topology as t
from contracts.replies import Reply, parse_reply
from services.edge.edge import Edge
from services.edge.event_channel import AmqpEventChannel
from services.edge.publisher import BufferingPublisher
from services.edge.settings import EdgeSettings
from services.edge.spool import Spool, SpoolReplayer
from services.runtime import logs, tracing
from services.runtime.amqp import broker
from services.runtime.amqp.runner import Runner
from services.runtime.http import http_server
from services.runtime.lifecycle import bounded
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome

log = logging.getLogger(__name__)


# How long an edge waits for the broker before it takes calls anyway. Past it, presses are
# held (and spooled if the call ends first) and callers hear the timeout prompt: a call must
# start even while the broker cluster has lost quorum (with pause_minority, the surviving
# node then refuses connections altogether).
START_WAIT_S = 3.0
RETRY_CONNECT_S = 0.5


@dataclass
class _Attachment:
    """The edge's side of the broker once connected: its reply consumer and link state."""

    connection: AbstractRobustConnection
    link: broker.LinkState
    queue: AbstractQueue
    tag: str
    runner: Runner[Reply]


async def _connect_until_up(settings: EdgeSettings, *, name: str) -> AbstractRobustConnection:
    warned = False
    while True:
        try:
            return await broker.connect(settings.amqp_url, name=f"dtmf-{name}")
        except CONNECTION_EXCEPTIONS as error:
            if not warned:
                log.warning(
                    "%s: no broker yet (%s); retrying every %.1f s", name, error, RETRY_CONNECT_S
                )
                warned = True
        await asyncio.sleep(RETRY_CONNECT_S)  # a pace between attempts, not a wait for a result


# The broker going away while the edge sets up its side (a node shutting down, quorum
# lost): try again like a connection that failed. Anything else, a refused declaration
# above all, is a misconfiguration and fails loudly.
_GONE_WHILE_ATTACHING = (ConnectionClosed, ChannelInvalidStateError, OSError)


def went_away(error: BaseException, connection: AbstractRobustConnection) -> bool:
    """Whether `error` means the broker went away mid-attach rather than refused us."""
    if isinstance(error, _GONE_WHILE_ATTACHING):
        return True
    # aiormq refuses a channel on a connection that has just closed with a bare RuntimeError
    # (seen when a node pausing for lost quorum accepts a connection, then drops it).
    return isinstance(error, RuntimeError) and broker.connection_gone(connection)


async def _attach(
    settings: EdgeSettings, edge: Edge, events: AmqpEventChannel, metrics: Metrics, *, name: str
) -> _Attachment:
    events_open = False
    while True:
        connection = await _connect_until_up(settings, name=name)
        try:
            if not events_open:
                await events.open()
                events_open = True
            return await _set_up(settings, edge, connection, metrics, name=name)
        except BaseException as error:
            gone = went_away(error, connection)  # before closing it ourselves
            await bounded(connection.close(), what="edge: close", timeout=5)
            if not gone:
                raise
            log.warning("%s: the broker went away while attaching (%r); retrying", name, error)
        await asyncio.sleep(RETRY_CONNECT_S)  # a pace between attempts, not a wait for a result


async def _set_up(
    settings: EdgeSettings,
    edge: Edge,
    connection: AbstractRobustConnection,
    metrics: Metrics,
    *,
    name: str,
) -> _Attachment:
    link = broker.LinkState(connection)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=settings.prefetch)
    topo = await broker.declare_topology(channel, dead_queue=False)
    handled = {o: metrics.messages_handled.labels(name, o.value) for o in Outcome}
    runner: Runner[Reply] = Runner(
        name=name,
        decode=parse_reply,
        handle=edge.apply_reply,
        dead=topo.dead,
        identify=lambda reply: reply.reply_id,
        max_body_bytes=settings.max_body_bytes,
        on_outcome=lambda outcome: handled[outcome].inc(),
        group="edge",
    )
    queue = await channel.declare_queue(
        t.reply_queue(settings.edge_id), exclusive=True, arguments=t.REPLY_QUEUE_ARGUMENTS
    )
    await queue.bind(topo.replies, routing_key=settings.edge_id)
    tag = await queue.consume(runner)
    log.info("edge %s ready: replies on %s", settings.edge_id, queue.name)
    return _Attachment(connection, link, queue, tag, runner)


@asynccontextmanager
async def running_edge(
    settings: EdgeSettings, *, metrics: Metrics | None = None
) -> AsyncIterator[Edge]:
    """An Edge wired to the broker, with its HTTP endpoints: ready to take calls once entered
    (connected, or past START_WAIT_S without a broker: then it connects in the background)."""
    metrics = metrics if metrics is not None else Metrics()
    name = f"edge-{settings.edge_id}"
    # Before connecting: the connections' tasks, and so every reply's, inherit the field.
    logs.bind(service="edge")
    tracing.start_from_env("dtmf-edge")
    # Events have a connection of their own: the publisher may replace it without touching
    # the reply consumer.
    events = AmqpEventChannel(lambda: _connect_until_up(settings, name=f"{name}-events"))
    spool = Spool(settings.spool_dir, owner=settings.edge_id)
    publisher = BufferingPublisher(
        events,
        metrics,
        capacity=settings.publish_buffer,
        confirm_timeout_s=settings.publish_timeout_s,
        spool=spool,
    )
    replayer = SpoolReplayer(spool, publisher)
    edge = Edge(
        edge_id=settings.edge_id,
        publisher=publisher,
        metrics=metrics,
        reply_timeout_s=settings.reply_timeout_s,
        barge_in=settings.barge_in,
        max_unanswered=settings.max_unanswered,
        transfer_allow=settings.transfer_allow,
    )
    attaching = asyncio.get_running_loop().create_task(
        _attach(settings, edge, events, metrics, name=name)
    )

    def attached() -> _Attachment | None:
        if attaching.done() and not attaching.cancelled() and not attaching.exception():
            return attaching.result()
        return None

    attaching.add_done_callback(lambda _: _give_link(edge, attached()))
    done, _ = await asyncio.wait({attaching}, timeout=START_WAIT_S)
    if attaching in done:
        attaching.result()  # a broker that answered but refused the topology: fail loudly
    else:
        log.warning("edge %s takes calls without a broker: presses are held", settings.edge_id)

    def up() -> bool:
        return (a := attached()) is not None and a.link.up

    def readiness() -> str | None:
        return None if up() else "not connected to the broker: presses are held"

    metrics.broker_connected.labels(name).set_function(lambda: float(up()))
    replayer.start()
    try:
        async with http_server(
            metrics, readiness, host=settings.http_host, port=settings.http_port
        ) as port:
            edge.http_port = port
            yield edge
    finally:
        for call in edge.calls:
            await edge.end_call(call, reason="edge_shutdown")
        if (a := attached()) is not None:
            await bounded(a.queue.cancel(a.tag), what="edge: cancel reply consumer", timeout=2)
            await a.runner.drained(timeout=settings.shutdown_timeout_s)
        spooled = await publisher.stop(timeout=settings.shutdown_timeout_s)
        await replayer.stop(spooled_the_rest=spooled)
        attaching.cancel()
        await asyncio.gather(attaching, return_exceptions=True)
        await bounded(events.close(), what="edge: close events", timeout=5)
        if (a := attached()) is not None:
            await bounded(a.connection.close(), what="edge: close", timeout=5)
        await tracing.flush()


def _give_link(edge: Edge, attachment: _Attachment | None) -> None:
    if attachment is not None:
        edge.link = attachment.link
