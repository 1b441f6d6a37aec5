"""Declare the shared topology (contracts/shared_topology.py), or check that it exists.

An administrator declares the shared exchanges, the dead-letter queue and their bindings
once; least-privilege broker users may not (no configure on shared names, SECURITY.md). A
process still tries first, so that with an administrator's URL (tests, `make demo`) it
starts on an empty vhost as before, at one round trip per object. When the broker refuses
(ACCESS_REFUSED, which closes the channel) it checks each exchange and queue with a passive
declare instead, which needs no permission: one round trip more than declaring, plus the
channel's reopening. Bindings cannot be checked over AMQP: they are the administrator's.

The shared queue (dtmf.dead) is declared once, not again on every reconnect as a robust
channel would: declaring a quorum queue waits for its leader, and after a quorum loss each
service's consumer would wait behind the dead-letter queue's election too (seen: services
consuming again 2 s after a bare consumer). It is durable and an administrator's; only a
broker that lost its definitions lacks it, and then every queue is gone anyway.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, AbstractRobustChannel
from aiormq.exceptions import (
    ChannelAccessRefused,
    ChannelInvalidStateError,
    ChannelNotFoundEntity,
)

from contracts.shared_topology import SharedTopology

log = logging.getLogger(__name__)

# A robust channel closed by a refusal reopens at once; not within this, the connection is gone.
REOPEN_TIMEOUT_S = 10.0
ADMIN_STEP = (
    "an administrator declares it once: `make broker-users` or `python -m tools.broker_access "
    "topology` (with an administrator's AMQP_URL) in development; in Kubernetes the "
    "Messaging Topology Operator applies deploy/k8s/base/broker-topology.yaml"
)


class SharedTopologyMissing(RuntimeError):
    """Part of the shared topology is not on the broker, and this user may not declare it."""


def check_plan(topology: SharedTopology) -> list[tuple[str, str]]:
    """(kind, name) of every object a passive check covers, in order: exchanges, queues."""
    return [("exchange", x.name) for x in topology.exchanges] + [
        ("queue", q.name) for q in topology.queues
    ]


def missing_message(kind: str, name: str, *, refused: str, not_found: str) -> str:
    return (
        f"the shared {kind} {name!r} does not exist ({not_found}) and this process's broker "
        f"user may not declare it ({refused}): {ADMIN_STEP}"
    )


async def declare_or_check(
    channel: AbstractChannel, topology: SharedTopology
) -> dict[str, AbstractExchange]:
    """The topology's exchanges by name, declared, or checked when this user may not."""
    try:
        return await declare(channel, topology)
    except ChannelAccessRefused as error:
        refused = str(error)
    log.debug("may not declare the shared topology (%s): checking it", refused)
    await reopened(channel)
    exchanges = await check(channel, topology, refused=refused)
    log.info("shared topology checked: %d exchanges, declared by an administrator", len(exchanges))
    return exchanges


async def declare(
    channel: AbstractChannel, topology: SharedTopology
) -> dict[str, AbstractExchange]:
    """Declare everything (idempotent; safe from many processes at once)."""
    exchanges: dict[str, AbstractExchange] = {}
    for x in topology.exchanges:
        exchanges[x.name] = await channel.declare_exchange(
            x.name, x.kind, durable=True, arguments=dict(x.arguments) or None
        )
    queues = {
        q.name: await _declare_once(channel, q.name, arguments=dict(q.arguments))
        for q in topology.queues
    }
    for b in topology.bindings:
        if b.to_queue:
            await queues[b.destination].bind(exchanges[b.source], routing_key=b.routing_key)
        else:
            await exchanges[b.destination].bind(exchanges[b.source], routing_key=b.routing_key)
    return exchanges


async def check(
    channel: AbstractChannel, topology: SharedTopology, *, refused: str
) -> dict[str, AbstractExchange]:
    exchanges: dict[str, AbstractExchange] = {}
    for kind, name in check_plan(topology):
        try:
            if kind == "exchange":
                exchanges[name] = await channel.declare_exchange(name, passive=True)
            else:
                await _declare_once(channel, name, passive=True)
        except ChannelNotFoundEntity as error:
            message = missing_message(kind, name, refused=refused, not_found=str(error))
            raise SharedTopologyMissing(message) from error
    return exchanges


async def _declare_once(
    channel: AbstractChannel,
    name: str,
    *,
    arguments: dict[str, Any] | None = None,
    passive: bool = False,
) -> AbstractQueue:
    """A shared queue, declared (or checked) now and not again when a robust channel
    reopens (see the module docstring)."""
    if isinstance(channel, AbstractRobustChannel):
        return await channel.declare_queue(
            name, durable=True, arguments=arguments, passive=passive, robust=False
        )
    return await channel.declare_queue(name, durable=True, arguments=arguments, passive=passive)


async def reopened(channel: AbstractChannel) -> None:
    """The broker closed the channel on a refusal. A robust channel reopens itself (with its
    prefetch and what it declared before): wait for that. Reopen any other one here."""
    if not isinstance(channel, AbstractRobustChannel):
        await channel.reopen()
        return
    done = asyncio.Event()

    def on_reopen(_: AbstractRobustChannel | None, /) -> None:
        done.set()

    channel.reopen_callbacks.add(on_reopen)
    try:
        # Open again, it may still restore what it declared: its next call waits for that.
        if channel.is_closed:
            await asyncio.wait_for(done.wait(), REOPEN_TIMEOUT_S)
    except TimeoutError:
        # The connection went with it: what callers retry as the broker going away.
        raise ChannelInvalidStateError("the channel did not reopen after a refusal") from None
    finally:
        channel.reopen_callbacks.discard(on_reopen)
