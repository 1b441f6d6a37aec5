"""Broker connection and the topology every service declares (idempotently) on start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from aio_pika import RobustChannel, RobustConnection
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aio_pika.tools import OneShotCallback
from yarl import URL

from contracts import topology as t
from contracts.shared_topology import CONTROL, bus_topology
from services.runtime.settings import broker_urls
from services.runtime.topology import declare_or_check

log = logging.getLogger(__name__)

# With several nodes, one that does not answer must not hold up the next one for the
# operating system's TCP timeout (minutes). A single node keeps aio-pika's default.
NODE_CONNECT_TIMEOUT_S = 10.0
# Between failed attempts while the broker is away (the first attempt after a loss is at once).
RECONNECT_INTERVAL_S = 0.5


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
    (services/runtime/topology.py); safe to run from every service at once.

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


class LinkState:
    """Whether the connection is up *and* restored (channels, queues, consumers).

    `connection.connected` is set before aio-pika restores channels on a reconnect, so
    readiness follows the close and reconnect callbacks instead. It also logs each loss
    (WARNING, with the node and the reason) and each return (INFO, with the node), once.
    """

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self.up = connection.connected.is_set()
        self._connection = connection
        self._changed = asyncio.Condition()
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
        lost = self.up and not (self._connection.close_called or self._connection.is_closed)
        if lost:
            name, node = self._where()
            log.warning(
                "%s: connection to %s lost (%s); reconnecting", name, node, _describe(reason)
            )
        self._set(False)

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


class _OrdinaryReconnectNoise(logging.Filter):
    """Downgrades to DEBUG the ERROR records a clean broker restart makes, and nothing else.

    Operators page on ERROR. What these say is logged anyway, below ERROR: the loss once
    per connection by LinkState (WARNING, with the reason), each failed attempt by aio-pika
    (WARNING). Written against aio-pika 10.2.1 and aiormq 7.2.4:

    - aio-pika's RobustChannel._on_close, run through a OneShotCallback (which logs what it
      raises at ERROR on "aio_pika.tools"), reopens the channel at once, also when the whole
      connection was lost. Its guard only skips a connection closed by the user, not a robust
      one that is reconnecting, so the reopen fails on the dead connection: "No active
      transport in channel" (ChannelInvalidStateError) once aio-pika dropped the transport,
      "<Connection ...> closed" (RuntimeError) before. Harmless: the robust connection
      restores the channel when it is back. Nothing in how we connect causes it; a bare
      connect_robust with one channel does the same.
    - aiormq logs at ERROR the broker's Connection.Close with reply code 320
      (CONNECTION_FORCED: the node shuts down, or an operator closed the connection)...
    - ...and every connection refused while the node is down ("error when creating
      transport").
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if not (
            (record.name == "aiormq.connection" and _is_aiormq_noise(record.msg, args))
            or (record.name == "aio_pika.tools" and _is_reopen_on_lost_connection(args))
        ):
            return True
        # Render now: the callback in aio-pika's arguments is gone once the call returns.
        record.msg, record.args = record.getMessage(), ()
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # The logger let the record through at ERROR; ask again at its new level.
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


CONNECTION_FORCED = 320


def _is_aiormq_noise(msg: object, args: tuple[object, ...]) -> bool:
    if msg == "error when creating transport: %r" and len(args) == 1:
        error = args[0]
        return isinstance(error, Exception) and (
            isinstance(error, ConnectionRefusedError)
            or isinstance(error.__cause__, ConnectionRefusedError)
        )
    # log.error("Unexpected connection close from remote ...", connection, code, text)
    return (
        isinstance(msg, str)
        and msg.startswith("Unexpected connection close from remote")
        and len(args) == 3
        and args[1] == CONNECTION_FORCED
    )


def _is_reopen_on_lost_connection(args: tuple[object, ...]) -> bool:
    # log.error("Callback %r error: %s: %s", one_shot_callback, type_name, error)
    if len(args) != 3 or not isinstance(args[0], OneShotCallback):
        return False
    method, kind, error = getattr(args[0], "callback", None), args[1], str(args[2])
    failed_on_dead_connection = (
        kind == "ChannelInvalidStateError" and error == "No active transport in channel"
    ) or (kind == "RuntimeError" and error.endswith(" closed"))
    return (
        failed_on_dead_connection
        and getattr(method, "__name__", None) == "_on_close"
        and isinstance(getattr(method, "__self__", None), RobustChannel)
    )


def quiet_ordinary_reconnects() -> None:
    """Install the filter once per process (every connect calls this)."""
    for name in ("aio_pika.tools", "aiormq.connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OrdinaryReconnectNoise) for f in logger.filters):
            logger.addFilter(_OrdinaryReconnectNoise())
