"""What each role may do on the broker: RabbitMQ permission patterns, made in one place.

An administrator declares the shared topology (contracts/shared_topology.py: the exchanges,
the dtmf.dead queue and their bindings; `python -m tools.broker_access topology`, or the
Messaging Topology Operator objects of broker-topology.yaml). A process tries to declare it
too and, refused, checks it with passive declares (services/runtime/amqp/topology.py), so no role
holds configure on a shared name. What RabbitMQ checks for what the roles still do:

- queue.declare: configure on the queue; with a dead-letter exchange, also read on the
  queue and write on the exchange.
- queue.bind: write on the queue, read on the exchange, and for a topic exchange the
  binding key must pass the role's topic read pattern. (exchange.bind, the same with the
  destination exchange: only the administrator's dtmf.events -> dtmf.routes does it.)
- basic.publish: write on the exchange; to a topic exchange, the routing key must pass the
  role's topic write pattern. basic.consume / basic.get: read on the queue.
- queue.delete / exchange.delete: configure. A passive declare needs nothing, which is how
  processes check the shared topology and the monitoring role reads a queue's depth.

Patterns are matched against names of both kinds: write on `dtmf.dead` (the exchange, for
dead letters) is also write on `dtmf.dead` (the queue), so a role may bind that queue to an
exchange it reads (see SECURITY.md); nobody but an administrator reads or deletes it. A user
without topic permissions on a topic exchange is unrestricted there, so every role gets an
entry for each topic exchange it may reach. The patterns use only what Python's `re` and
RabbitMQ's PCRE read the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contracts import topology as t
from contracts.control import ANNOUNCE_ROUTING_KEY, CONTROL_EXCHANGE, DISCOVER_ROUTING_KEY
from contracts.events import CallEnded, CallStarted
from contracts.keys import KEYS, routing_word

NOTHING = "^$"
# What the edge's reply queues are called, and the control plane's unnamed queues: aio-pika
# names a robust queue declared without a name amq_<uuid4 hex> itself, to declare it again
# under the same name after a reconnect.
EDGE_QUEUES = re.escape(t.reply_queue("")) + ".+"
UNNAMED_QUEUES = "amq_[0-9a-f]{32}"
TOPIC_EXCHANGES = (t.EVENTS_EXCHANGE, t.ROUTES_EXCHANGE, CONTROL_EXCHANGE)
MONITORING_TAG = "monitoring"


@dataclass(frozen=True)
class TopicGrant:
    """Routing keys a role may publish (write) and bind (read) on one topic exchange."""

    exchange: str
    write: str
    read: str


@dataclass(frozen=True)
class Grant:
    """One role's permissions in a vhost, and the tags of its user."""

    role: str
    configure: str
    write: str
    read: str
    topics: tuple[TopicGrant, ...]
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceShape:
    """What the permissions of a consumer service depend on (see `service_shape`)."""

    name: str
    # (exchange, binding key) of every binding of its queue.
    bindings: tuple[tuple[str, str], ...]
    # It answers callers: publishes replies. A service that only records (the call log)
    # does not.
    replies: bool
    # It announces what it serves, and so hears discovery requests.
    announces: bool
    # It keeps a directory of the others (the menu): hears announcements, asks for them.
    listens: bool


def exactly(names: Iterable[str], *patterns: str) -> str:
    """A pattern matching these names (escaped) and patterns, whole names only."""
    parts = sorted({re.escape(name) for name in names}) + list(patterns)
    return f"^(?:{'|'.join(parts)})$" if parts else NOTHING


def _word_keys(prefix: str) -> list[str]:
    return [f"{prefix}.{routing_word(key)}" for key in KEYS]


def edge_publishes() -> str:
    """Routing keys of everything the edge publishes on dtmf.events (contracts.events)."""
    presses = [*_word_keys("dtmf"), *_word_keys("collect")]
    lifecycle = [CallStarted.ROUTING_KEY, CallEnded.ROUTING_KEY]
    # input.<name>, name as contracts.replies.INPUT_NAME_PATTERN allows it.
    return exactly([*presses, *lifecycle], re.escape("input.") + "[a-z][a-z0-9_]{0,39}")


def edge_grant() -> Grant:
    """Publish events; declare, bind and consume its own (exclusive) reply queues."""
    return Grant(
        role="edge",
        configure=exactly([], EDGE_QUEUES),
        # events: publish; dead: malformed replies are dead-lettered there.
        write=exactly([t.EVENTS_EXCHANGE, t.DEAD_EXCHANGE], EDGE_QUEUES),
        # replies: the source of its reply queue's binding.
        read=exactly([t.REPLIES_EXCHANGE], EDGE_QUEUES),
        topics=(
            TopicGrant(t.EVENTS_EXCHANGE, write=edge_publishes(), read=NOTHING),
            TopicGrant(t.ROUTES_EXCHANGE, write=NOTHING, read=NOTHING),
            TopicGrant(CONTROL_EXCHANGE, write=NOTHING, read=NOTHING),
        ),
    )


def service_grant(shape: ServiceShape) -> Grant:
    """Declare and consume its own queue, with the bindings it declares; publish dead
    letters, and replies and control messages where its shape says so."""
    queue = t.service_queue(shape.name)
    control = shape.announces or shape.listens
    sources = {exchange for exchange, _ in shape.bindings}
    # Its queue: configure to declare it (which also allows deleting it: RabbitMQ has no
    # declare-only permission), write to bind it, read to consume.
    write = [queue, t.DEAD_EXCHANGE]
    write += [t.REPLIES_EXCHANGE] if shape.replies else []
    write += [CONTROL_EXCHANGE] if control else []
    read = [queue, *sources]
    read += [CONTROL_EXCHANGE] if control else []
    return Grant(
        role=f"svc-{shape.name}",
        configure=exactly([queue], *_if(control)),
        write=exactly(write, *_if(control)),
        read=exactly(read, *_if(control)),
        topics=(
            TopicGrant(
                t.EVENTS_EXCHANGE,
                write=NOTHING,
                read=exactly(_keys_on(shape, t.EVENTS_EXCHANGE)),
            ),
            TopicGrant(
                t.ROUTES_EXCHANGE, write=NOTHING, read=exactly(_keys_on(shape, t.ROUTES_EXCHANGE))
            ),
            TopicGrant(
                CONTROL_EXCHANGE,
                write=exactly(_control_sends(shape)),
                read=exactly(_control_hears(shape)),
            ),
        ),
    )


def _if(control: bool) -> list[str]:
    return [UNNAMED_QUEUES] if control else []


def _keys_on(shape: ServiceShape, exchange: str) -> list[str]:
    return [key for source, key in shape.bindings if source == exchange]


def _control_sends(shape: ServiceShape) -> list[str]:
    return [ANNOUNCE_ROUTING_KEY] * shape.announces + [DISCOVER_ROUTING_KEY] * shape.listens


def _control_hears(shape: ServiceShape) -> list[str]:
    return [DISCOVER_ROUTING_KEY] * shape.announces + [ANNOUNCE_ROUTING_KEY] * shape.listens


def monitoring_grant() -> Grant:
    """Connect and read queue depths (passive declares need no permission): KEDA's scaler.
    The `monitoring` tag lets it read the management API too, should it use HTTP."""
    topics = tuple(TopicGrant(x, write=NOTHING, read=NOTHING) for x in TOPIC_EXCHANGES)
    return Grant(
        role="monitor",
        configure=NOTHING,
        write=NOTHING,
        read=NOTHING,
        topics=topics,
        tags=(MONITORING_TAG,),
    )


def role_grants(services: Sequence[ServiceShape]) -> list[Grant]:
    """Every role: the edge, one per consumer service, and monitoring."""
    return [edge_grant(), *(service_grant(s) for s in services), monitoring_grant()]
