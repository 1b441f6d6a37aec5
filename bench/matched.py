"""The matched baseline's broker side: dtmf-bus's topology with no application code.

Its exchanges are dtmf-bus's (`dtmf.events` topic -> `dtmf.routes` topic with the
alternate exchange `dtmf.unrouted`, `dtmf.replies` direct) under names of their own, so the
system's services in the same vhost never see its traffic. Each of the system's consumer
services gets a mirror: a queue declared with that service's own arguments and bindings,
read from the service's definition (`services.<name>.service:build`), consumed by a process
of its own that answers each press at once with a fixed reply (or, for a service that is not
interactive like the call log, only acks).
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from contracts import topology as t
from contracts.events import CallEnded
from services.edge.bus import REPLY_QUEUE_EXPIRES_MS
from services.runtime.main import load_builder
from services.runtime.service import ConsumerService
from services.runtime.settings import Settings


@dataclass(frozen=True)
class Exchanges:
    events: AbstractExchange
    routes: AbstractExchange
    unrouted: AbstractExchange
    replies: AbstractExchange

    def standing_for(self, name: str) -> AbstractExchange:
        """This topology's exchange in place of dtmf-bus's exchange `name`."""
        return {
            t.EVENTS_EXCHANGE: self.events,
            t.ROUTES_EXCHANGE: self.routes,
            t.UNROUTED_EXCHANGE: self.unrouted,
        }[name]


async def declare_exchanges(channel: AbstractChannel, prefix: str) -> Exchanges:
    """As services.runtime.broker.declare_topology does, with `prefix.` names."""
    kind = aio_pika.ExchangeType
    events = await channel.declare_exchange(f"{prefix}.events", kind.TOPIC, durable=True)
    unrouted = await channel.declare_exchange(f"{prefix}.unrouted", kind.FANOUT, durable=True)
    routes = await channel.declare_exchange(
        f"{prefix}.routes",
        kind.TOPIC,
        durable=True,
        arguments={"alternate-exchange": unrouted.name},
    )
    await routes.bind(events, routing_key=t.ROUTES_BINDING)
    replies = await channel.declare_exchange(f"{prefix}.replies", kind.DIRECT, durable=True)
    return Exchanges(events=events, routes=routes, unrouted=unrouted, replies=replies)


def load_service(name: str) -> ConsumerService:
    return load_builder(name)(Settings.from_env())


async def declare_mirror(
    channel: AbstractChannel, exchanges: Exchanges, prefix: str, service: ConsumerService
) -> AbstractQueue:
    """The service's queue, arguments and bindings as services.runtime.app declares them."""
    queue = await channel.declare_queue(
        f"{prefix}.svc.{service.name}",
        durable=True,
        arguments=t.service_queue_arguments(interactive=service.interactive),
    )
    for binding in service.bindings:
        await queue.bind(exchanges.standing_for(binding.exchange), routing_key=binding.routing_key)
    if service.interactive:
        await queue.bind(exchanges.events, routing_key=CallEnded.ROUTING_KEY)
    return queue


async def declare_reply_queue(
    channel: AbstractChannel, exchanges: Exchanges, name: str
) -> AbstractQueue:
    """A driver's reply queue, as services.edge.bus declares the edge's."""
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={"x-queue-type": "quorum", "x-expires": REPLY_QUEUE_EXPIRES_MS},
    )
    await queue.bind(exchanges.replies, routing_key=queue.name)
    return queue
