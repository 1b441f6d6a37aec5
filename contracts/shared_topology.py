"""The shared topology: the exchanges, the dead-letter queue and the bindings that every
process uses and no process owns.

An administrator declares them once (in development `python -m tools.broker_access
topology`, run by `make broker-users`; in Kubernetes the Messaging Topology Operator objects
of deploy/k8s/base/broker-topology.yaml). A process declares them too when its broker user
may (an administrator's, as in tests and `make demo`), else it checks that they exist
(services/runtime/amqp/topology.py). Every one of them reads this description, so all declare the
same names with the same arguments: RabbitMQ refuses a redeclaration that differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from contracts import topology as t
from contracts.control import CONTROL_EXCHANGE

ExchangeKind = Literal["topic", "fanout", "direct"]

# The dead-letter queue: replicated, so a dead letter survives a node. It needs quorum to be
# declared, which is why an edge never declares it (it starts calls while quorum is lost).
DEAD_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}


@dataclass(frozen=True)
class SharedExchange:
    """A durable exchange."""

    name: str
    kind: ExchangeKind
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SharedQueue:
    """A durable queue."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class SharedBinding:
    """source -> destination (an exchange, or a queue when `to_queue`) with a binding key."""

    source: str
    destination: str
    routing_key: str
    to_queue: bool


@dataclass(frozen=True)
class SharedTopology:
    """In the order they are declared: an exchange before what names it, then bindings."""

    exchanges: tuple[SharedExchange, ...]
    queues: tuple[SharedQueue, ...] = ()
    bindings: tuple[SharedBinding, ...] = ()


def bus_topology(*, prefix: str = "", dead_queue: bool = True) -> SharedTopology:
    """The design brief's exchanges; with `dead_queue`, the dead-letter queue too.

    A prefix gives a copy under names of its own (the benchmark's floor, bench.matched)."""
    events, routes = prefix + t.EVENTS_EXCHANGE, prefix + t.ROUTES_EXCHANGE
    unrouted, dead = prefix + t.UNROUTED_EXCHANGE, prefix + t.DEAD_EXCHANGE
    exchanges = (
        SharedExchange(events, "topic"),
        SharedExchange(unrouted, "fanout"),
        SharedExchange(routes, "topic", {"alternate-exchange": unrouted}),
        SharedExchange(prefix + t.REPLIES_EXCHANGE, "direct"),
        SharedExchange(dead, "fanout"),
    )
    bindings = (SharedBinding(events, routes, t.ROUTES_BINDING, to_queue=False),)
    if not dead_queue:
        return SharedTopology(exchanges, (), bindings)
    queue = SharedQueue(prefix + t.DEAD_QUEUE, DEAD_QUEUE_ARGUMENTS)
    # A fanout exchange ignores the key; it is the queue's name, as the processes bound it
    # before an administrator did (aio-pika's default), so a broker holds one binding.
    to_dead = SharedBinding(dead, queue.name, queue.name, to_queue=True)
    return SharedTopology(exchanges, (queue,), (*bindings, to_dead))


# Announcements and discovery between services (contracts/control.py).
CONTROL = SharedExchange(CONTROL_EXCHANGE, "topic")


def shared_topology() -> SharedTopology:
    """Everything an administrator declares: the bus and the control plane."""
    bus = bus_topology()
    return SharedTopology((*bus.exchanges, CONTROL), bus.queues, bus.bindings)
