"""The matched baseline's broker side: dtmf-bus's topology with no application code.

Its exchanges are dtmf-bus's own, declared by services.runtime.amqp.broker.declare_topology
under a prefix, so the system's services in the same vhost never see its traffic. Each of
the system's consumer services gets a mirror: a queue declared with that service's own
arguments and bindings, read from the service's definition
(`services.<name>.service:build`), consumed by a process of its own that answers each press
at once with a fixed reply (or, for a service that is not interactive like the call log,
only acks).
"""

from __future__ import annotations

from aio_pika.abc import AbstractChannel, AbstractQueue

from contracts import topology as t
from services.runtime.amqp.broker import Topology, declare_topology
from services.runtime.main import build_service, load_builder
from services.runtime.service import ConsumerService


async def declare_exchanges(channel: AbstractChannel, prefix: str) -> Topology:
    return await declare_topology(channel, prefix=f"{prefix}.")


def load_service(name: str) -> ConsumerService:
    return build_service(load_builder(name))


async def declare_mirror(
    channel: AbstractChannel, prefix: str, service: ConsumerService
) -> AbstractQueue:
    """The service's queue, arguments and bindings as services.runtime.app declares them,
    on the exchanges of declare_exchanges(channel, prefix)."""
    queue = await channel.declare_queue(
        f"{prefix}.svc.{service.name}",
        durable=True,
        arguments=t.service_queue_arguments(interactive=service.interactive),
    )
    for binding in service.queue_bindings:
        await queue.bind(f"{prefix}.{binding.exchange}", routing_key=binding.routing_key)
    return queue


async def declare_reply_queue(
    channel: AbstractChannel, topology: Topology, name: str
) -> AbstractQueue:
    """A driver's reply queue, as services.edge.bus declares the edge's."""
    queue = await channel.declare_queue(name, exclusive=True, arguments=t.REPLY_QUEUE_ARGUMENTS)
    await queue.bind(topology.replies, routing_key=queue.name)
    return queue
