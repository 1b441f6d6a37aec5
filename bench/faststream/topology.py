"""The peer's topology and broker, as FastStream declares them.

The names are the system's own (contracts.topology): the peer runs in a vhost of its own
(bench.faststream.phase), so it needs no prefix and never meets the system's exchanges. The
service queues take their arguments from `service_queue_arguments`, the function the system's
services declare theirs with.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, cast

from faststream.middlewares import AckPolicy
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)

from contracts import topology as t

if TYPE_CHECKING:
    from faststream.rabbit.schemas.queue import ClassicQueueArgs, QuorumQueueArgs

EVENTS = RabbitExchange(t.EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
UNROUTED = RabbitExchange(t.UNROUTED_EXCHANGE, type=ExchangeType.FANOUT, durable=True)
# Bound to EVENTS with `dtmf.#`; a press no queue binds here goes to UNROUTED (the menu's).
ROUTES = RabbitExchange(
    t.ROUTES_EXCHANGE,
    type=ExchangeType.TOPIC,
    durable=True,
    arguments={"alternate-exchange": t.UNROUTED_EXCHANGE},
    bind_to=EVENTS,
    routing_key=t.ROUTES_BINDING,
)
REPLIES = RabbitExchange(t.REPLIES_EXCHANGE, type=ExchangeType.DIRECT, durable=True)
DEAD = RabbitExchange(t.DEAD_EXCHANGE, type=ExchangeType.FANOUT, durable=True)
DEAD_QUEUE = RabbitQueue(t.DEAD_QUEUE, queue_type=QueueType.QUORUM, durable=True)


def service_queue(name: str, *, interactive: bool, binding_key: str = "") -> RabbitQueue:
    """A service's quorum queue with the system's arguments (delivery limit, dead-lettering
    to dtmf.dead, and for an interactive one the press TTL and a single active consumer)."""
    return RabbitQueue(
        t.service_queue(name),
        queue_type=QueueType.QUORUM,
        durable=True,
        # The system's arguments, typed as FastStream types a quorum queue's.
        arguments=cast("QuorumQueueArgs", t.service_queue_arguments(interactive=interactive)),
        routing_key=binding_key,
    )


def reply_queue(edge_id: str) -> RabbitQueue:
    """The edge's own reply queue, as the system's edge declares it: exclusive, classic,
    bound to dtmf.replies with the edge id."""
    return RabbitQueue(
        t.reply_queue(edge_id),
        exclusive=True,
        arguments=cast("ClassicQueueArgs", t.REPLY_QUEUE_ARGUMENTS),
        routing_key=edge_id,
    )


def make_broker(url: str | None = None) -> RabbitBroker:
    """The broker every peer process builds, configured as the system's processes are."""
    return RabbitBroker(
        url or os.environ["AMQP_URL"],
        # The system's prefetch (DTMF_PREFETCH, default 64); publisher confirms are
        # FastStream's default on its channels.
        default_channel=Channel(prefetch_count=int(os.environ.get("DTMF_PREFETCH") or 64)),
        # A failed handler's press is requeued, so the queues' delivery limit and
        # dead-lettering decide its fate, as in the system.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # FastStream logs every message received and processed at INFO by default; the
        # system logs no line per message, so neither does its peer (FastStream's knob).
        log_level=logging.DEBUG,
    )


async def declare_dead_letters(broker: RabbitBroker) -> None:
    """dtmf.dead and its queue, which every service's queue dead-letters to; no subscriber
    consumes them, so they are declared explicitly (FastStream's declare API)."""
    exchange = await broker.declare_exchange(DEAD)
    queue = await broker.declare_queue(DEAD_QUEUE)
    await queue.bind(exchange, routing_key=queue.name)
