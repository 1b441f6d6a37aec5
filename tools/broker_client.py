"""Reaching the broker from a command that runs once (no reconnects), and borrowing the
head of a queue without disturbing its order: shared by the operator tools."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aio_pika.exceptions import AMQPError

from services.runtime.settings import broker_urls

CONNECT_TIMEOUT_S = 10.0


class BrokerUnreachable(Exception):
    """No node of AMQP_URL answered."""


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


async def connect_first(url: str, *, name: str) -> AbstractConnection:
    """The first node of AMQP_URL (one URL, or several separated by commas) that answers,
    for a command that runs once (no reconnects)."""
    failures = []
    for node in broker_urls(url):
        try:
            return await aio_pika.connect(
                node,
                timeout=CONNECT_TIMEOUT_S,
                client_properties={"connection_name": name},
            )
        except (OSError, AMQPError, TimeoutError) as error:
            failures.append(f"{redact(node)}: {str(error) or type(error).__name__}")
    raise BrokerUnreachable("cannot reach the broker at " + "; ".join(failures))


async def take_head(
    channel: AbstractChannel, queue: AbstractQueue, count: int, *, timeout: float
) -> list[AbstractIncomingMessage]:
    """Up to `count` messages from the head of `queue`, unacknowledged, in queue order;
    fewer if no more arrive within `timeout`. A consumer takes them, not basic.get, which
    quorum queues refuse on a single-active-consumer queue and return out of order."""
    if count == 0:
        return []
    # The prefetch is the bound: the broker delivers no more than we mean to hold.
    await channel.set_qos(prefetch_count=count)
    taken: list[AbstractIncomingMessage] = []
    enough = asyncio.Event()

    async def collect(message: AbstractIncomingMessage) -> None:
        taken.append(message)
        if len(taken) >= count:
            enough.set()

    tag = await queue.consume(collect)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(enough.wait(), timeout)
    # Cancel before anything is acked: an ack would make room for a further delivery.
    await queue.cancel(tag)
    return sorted(taken, key=lambda m: m.delivery_tag or 0)
