"""Broker connection and the topology every service declares (idempotently) on start."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from aio_pika import RobustConnection
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from contracts import topology as t
from contracts.shared_topology import CONTROL, bus_topology
from services.runtime.amqp.reconnect_logs import quiet_ordinary_reconnects
from services.runtime.amqp.topology import declare_or_check
from services.runtime.settings import broker_urls

log = logging.getLogger(__name__)

# With several nodes, one that does not answer must not hold up the next one for the
# operating system's TCP timeout (minutes). A single node keeps aio-pika's default.
NODE_CONNECT_TIMEOUT_S = 10.0
# Between failed attempts while the broker is away (the first attempt after a loss is at once).
RECONNECT_INTERVAL_S = 0.5
# While the broker stays away, a connection says so again this often (each failed attempt,
# every RECONNECT_INTERVAL_S, is logged at DEBUG only: 40 WARNINGs a connection in a 20 s
# outage would bury what matters).
STILL_AWAY_EVERY_S = 30.0

# The connection and the service's queue as the composition root (services/runtime/app.py)
# holds them, named here so that only this adapter imports aio-pika.
Connection: TypeAlias = AbstractRobustConnection
Queue: TypeAlias = AbstractQueue


@dataclass(frozen=True)
class Topology:
    events: AbstractExchange
    routes: AbstractExchange
    unrouted: AbstractExchange
    replies: AbstractExchange
    dead: AbstractExchange


def node_of(url: URL) -> str:
    """host:port of a broker URL: what logs name (never the credentials)."""
    port = url.explicit_port or (5671 if url.scheme == "amqps" else 5672)
    return f"{url.host}:{port}"


class NodesConnection(RobustConnection):
    """A robust connection over the broker nodes of AMQP_URL.

    aio-pika reconnects to `self.url` and restores channels, queues and consumers there;
    after every loss of the connection, and every failed attempt, `url` moves on to the next
    node first. aio-pika's own options (reconnect_interval, ...) come from the first node's
    URL; aiormq reads each node's own query (heartbeat, TLS files) when it connects to it.
    """

    def __init__(self, nodes: Sequence[URL], *, first: int, name: str, **kwargs: Any) -> None:
        super().__init__(nodes[first], client_properties={"connection_name": name}, **kwargs)
        self.name = name
        self._nodes = tuple(nodes)
        self._current = first

    @property
    def node(self) -> str:
        return node_of(self.url)

    async def _on_connection_close(self, closing: asyncio.Future[Any]) -> None:
        # The close callbacks (LinkState's among them) run inside and still see the node
        # that was lost; aio-pika's next attempt runs only after this returns.
        await super()._on_connection_close(closing)
        if len(self._nodes) > 1 and not (self.close_called or self.is_closed):
            self._current = (self._current + 1) % len(self._nodes)
            self.url = self._nodes[self._current]
            log.debug("%s: next connection attempt goes to %s", self.name, self.node)


async def connect(url: str, *, name: str) -> AbstractRobustConnection:
    """A robust connection: aio-pika reconnects and restores channels, queues and consumers.

    `url` is AMQP_URL: one node, or several separated by commas. The first connection tries
    them in order and fails only when none answers; each reconnect moves to the next node.
    """
    quiet_ordinary_reconnects()
    nodes = [URL(u) for u in broker_urls(url)]
    for node in nodes:
        _warn_if_unprotected(node, name=name)
    timeout = NODE_CONNECT_TIMEOUT_S if len(nodes) > 1 else None
    for first in range(len(nodes) - 1):
        try:
            return await _open(nodes, first=first, name=name, timeout=timeout)
        except CONNECTION_EXCEPTIONS as error:
            log.warning(
                "%s: broker %s did not answer (%s); trying %s",
                name,
                node_of(nodes[first]),
                _describe(error),
                node_of(nodes[first + 1]),
            )
    return await _open(nodes, first=len(nodes) - 1, name=name, timeout=timeout)


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# Nodes already warned about: an edge retries its connection every half second.
_warned: set[tuple[str, str]] = set()


def _warn_if_unprotected(node: URL, *, name: str) -> None:
    """amqps:// verifies the broker's certificate and host name (aiormq: the system's CAs,
    or the URL's cafile / AMQP_CA_FILE); turning that off, or plain AMQP beyond this host,
    is never silent."""
    seen = (name, f"{node.scheme}://{node_of(node)}")
    if seen in _warned:
        return
    _warned.add(seen)
    if node.scheme == "amqps" and node.query.get("no_verify_ssl", "0") != "0":
        log.warning(
            "%s: TLS certificate verification to %s is OFF (no_verify_ssl): anyone on the "
            "path can pose as the broker and read the credentials and every press",
            name,
            node_of(node),
        )
    elif node.scheme == "amqp" and node.host not in LOOPBACK_HOSTS:
        log.warning(
            "%s: %s is plain AMQP: credentials and presses cross the network unencrypted "
            "(use amqps://)",
            name,
            node_of(node),
        )


async def _open(
    nodes: Sequence[URL], *, first: int, name: str, timeout: float | None
) -> NodesConnection:
    # A URL's own ?reconnect_interval= wins; aio-pika's default of 5 s would add up to 5 s of
    # silence to every caller after a broker restart.
    interval = None if "reconnect_interval" in nodes[first].query else RECONNECT_INTERVAL_S
    connection = NodesConnection(nodes, first=first, name=name, reconnect_interval=interval)
    try:
        await connection.connect(timeout=timeout)
    except BaseException:
        await connection.close()  # its reconnect task has given up (fail fast): tidy up
        raise
    log.info("%s: connected to broker %s", name, connection.node)
    return connection


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "closed without a reason"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def declare_topology(
    channel: AbstractChannel, *, prefix: str = "", dead_queue: bool = True, control: bool = False
) -> Topology:
    """Declare the design brief's exchanges, or check them when this broker user may not
    (services/runtime/amqp/topology.py); safe to run from every service at once.

    Exchanges and bindings need no quorum; the dead-letter queue does, so an edge, which
    must start calls while the cluster has lost quorum, leaves that queue to the services
    (`dead_queue=False`). `control`: dtmf.control too, in the same step (a refusal later
    would close the channel a service already consumes on). A prefix gives a copy of the
    topology under names of its own (the benchmark's floor, bench.matched), which the
    services never see.
    """
    shared = bus_topology(prefix=prefix, dead_queue=dead_queue)
    if control:
        shared = replace(shared, exchanges=(*shared.exchanges, CONTROL))
    found = await declare_or_check(channel, shared)
    return Topology(
        events=found[prefix + t.EVENTS_EXCHANGE],
        routes=found[prefix + t.ROUTES_EXCHANGE],
        unrouted=found[prefix + t.UNROUTED_EXCHANGE],
        replies=found[prefix + t.REPLIES_EXCHANGE],
        dead=found[prefix + t.DEAD_EXCHANGE],
    )


async def declare_service_queue(
    channel: AbstractChannel,
    *,
    service: str,
    interactive: bool,
    delivery_limit: int,
    ttl_ms: int,
) -> AbstractQueue:
    return await channel.declare_queue(
        t.service_queue(service),
        durable=True,
        arguments=t.service_queue_arguments(
            interactive=interactive, delivery_limit=delivery_limit, ttl_ms=ttl_ms
        ),
    )


def connection_gone(connection: AbstractRobustConnection) -> bool:
    """The connection is closed or reconnecting. Its close callbacks may not have run yet: a
    connection that drops fails what it has in flight before `connected` is cleared."""
    transport = connection.transport
    return transport is None or transport.connection.is_closed or not connection.connected.is_set()


class LinkState:
    """Whether the connection is up *and* restored (channels, queues, consumers).

    `connection.connected` is set before aio-pika restores channels on a reconnect, so
    readiness follows the close and reconnect callbacks instead. It also logs each loss
    (WARNING, with the node and the reason) and each return (INFO, with the node), once,
    and while the broker stays away, a reminder every STILL_AWAY_EVERY_S (WARNING, with
    the attempts made and the last one's reason).
    """

    def __init__(
        self,
        connection: AbstractRobustConnection,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.up = connection.connected.is_set()
        self._connection = connection
        self._changed = asyncio.Condition()
        self._clock = clock
        # From now, should the connection be down already: a reminder then counts from here.
        self._lost_at = self._reminded_at = clock()
        self._attempts = 0  # failed since the loss
        connection.close_callbacks.add(self._on_close)
        connection.reconnect_callbacks.add(self._on_reconnect)

    def _where(self) -> tuple[str, str]:
        connection = self._connection
        if isinstance(connection, NodesConnection):
            return connection.name, connection.node
        return "broker connection", str(connection)

    def _on_close(self, _: AbstractConnection | None, reason: BaseException | None) -> None:
        # Called again for each failed attempt while the broker is away: log the loss once.
        # Our own close (shutdown) is no loss.
        ours = self._connection.close_called or self._connection.is_closed
        if self.up and not ours:
            name, node = self._where()
            log.warning(
                "%s: connection to %s lost (%s); reconnecting", name, node, _describe(reason)
            )
            self._lost_at = self._reminded_at = self._clock()
            self._attempts = 0
        elif not self.up and not ours:
            self._attempts += 1
            self._remind(reason)
        self._set(False)

    def _remind(self, reason: BaseException | None) -> None:
        now = self._clock()
        if now - self._reminded_at < STILL_AWAY_EVERY_S:
            return
        self._reminded_at = now
        name, node = self._where()
        log.warning(
            "%s: still no connection %.0f s after the loss, %d attempts (last, to %s: %s)",
            name,
            now - self._lost_at,
            self._attempts,
            node,
            _describe(reason),
        )

    def _on_reconnect(self, _: AbstractRobustConnection | None) -> None:
        if not self.up:
            name, node = self._where()
            log.info("%s: connection restored on %s", name, node)
        self._set(True)

    def _set(self, up: bool) -> None:
        self.up = up
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, up: bool, *, timeout: float) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.up is up)
