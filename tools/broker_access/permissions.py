"""What each role may do on the broker: RabbitMQ permission patterns, made in one place.

Every process declares the topology it uses when it starts (services/runtime/broker.py),
so that any of them may start first on an empty vhost. RabbitMQ checks each of those
declarations, so a role holds exactly what its own start and its work need:

- exchange.declare: configure on the exchange; with an alternate exchange (dtmf.routes),
  also read on the exchange and write on the alternate.
- queue.declare: configure on the queue; with a
  dead-letter exchange, also read on the queue and write on the exchange.
- queue.bind / exchange.bind: write on the destination, read on the source, and for a
  topic source the binding key must pass the role's topic read pattern.
- basic.publish: write on the exchange; to a topic exchange, the routing key must pass the
  role's topic write pattern. basic.consume / basic.get: read on the queue.
- queue.delete / exchange.delete: configure. A passive declare needs nothing, which is how
  the monitoring role reads a queue's depth.

Patterns are matched against names of both kinds: configure on `dtmf.dead` (the exchange)
is also configure on `dtmf.dead` (the queue). A user without topic permissions on a topic
exchange is unrestricted there, so every role gets an entry for each topic exchange it may
reach. The patterns use only what Python's `re` and RabbitMQ's PCRE read the same way.
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
# Every exchange a process declares at start (services/runtime/broker.py declare_topology).
SHARED_EXCHANGES = (
    t.EVENTS_EXCHANGE,
    t.UNROUTED_EXCHANGE,
    t.ROUTES_EXCHANGE,
    t.REPLIES_EXCHANGE,
    t.DEAD_EXCHANGE,
)
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
        configure=exactly(SHARED_EXCHANGES, EDGE_QUEUES),
        # events: publish; routes: bind it to events; unrouted: named as routes' alternate;
        # dead: malformed replies are dead-lettered there.
        write=exactly(
            [t.EVENTS_EXCHANGE, t.ROUTES_EXCHANGE, t.UNROUTED_EXCHANGE, t.DEAD_EXCHANGE],
            EDGE_QUEUES,
        ),
        read=exactly([t.EVENTS_EXCHANGE, t.ROUTES_EXCHANGE, t.REPLIES_EXCHANGE], EDGE_QUEUES),
        topics=(
            TopicGrant(t.EVENTS_EXCHANGE, write=edge_publishes(), read=exactly([t.ROUTES_BINDING])),
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
    configure = exactly([*SHARED_EXCHANGES, CONTROL_EXCHANGE, queue], *_if(control))
    write = [queue, t.ROUTES_EXCHANGE, t.UNROUTED_EXCHANGE, t.DEAD_EXCHANGE]
    write += [t.REPLIES_EXCHANGE] if shape.replies else []
    write += [CONTROL_EXCHANGE] if control else []
    # dtmf.dead: the source of the dead-letter queue's binding, which every service
    # declares; the same name makes it read on that queue too (see SECURITY.md).
    read = [queue, t.EVENTS_EXCHANGE, t.ROUTES_EXCHANGE, t.DEAD_EXCHANGE, *sources]
    read += [CONTROL_EXCHANGE] if control else []
    return Grant(
        role=f"svc-{shape.name}",
        configure=configure,
        write=exactly(write, *_if(control)),
        read=exactly(read, *_if(control)),
        topics=(
            TopicGrant(
                t.EVENTS_EXCHANGE,
                write=NOTHING,
                read=exactly([t.ROUTES_BINDING, *_keys_on(shape, t.EVENTS_EXCHANGE)]),
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
