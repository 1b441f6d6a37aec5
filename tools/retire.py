"""`dtmf-bus retire SERVICE`: take a stopped service off the bus for good.

A service's queue outlives the service. It stays bound, so the service's keys keep going
to a queue nobody reads, and callers hear nothing until their edge gives up waiting.
Retiring unbinds every key from the queue (from then on the alternate exchange hands those
keys to the menu), empties and deletes it (its other bindings go with it), tells every menu
to forget the service (so the prompt stops offering its keys), and hands on what was
waiting in the queue:

- a key press still fresh (younger than DTMF_PRESS_TTL_MS) is published again to
  `dtmf.events` once the queue is gone, so today's routing answers it: the menu, for a key
  nobody else binds. Every other consumer has seen that event id already and absorbs it;
- a call's start or end is dropped: the call log has its own copy, and only the retired
  service read this one;
- anything else (a stale press, a gathered input, a message that does not parse) goes to
  `dtmf.dead` with the reason `service retired`, where `dtmf-bus dead-letters` shows it.

It refuses while the queue has consumers: a running service declares its queue and its
bindings again when it reconnects, and goes on announcing its keys.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aio_pika.exceptions import ChannelNotFoundEntity
from pydantic import ValidationError

from contracts import topology as t
from contracts.control import ANNOUNCE_ROUTING_KEY, CONTROL_EXCHANGE, ServiceAnnouncement
from contracts.events import CallEnded, CallStarted, KeyPress, parse_event
from contracts.keys import KEYS, key_routing_key
from services.runtime.amqp.codec import to_control, to_dead_letter, to_message
from services.runtime.settings import Settings
from tools.broker_client import BrokerUnreachable, connect_first, redact, take_head

log = logging.getLogger(__name__)

RETIRED_REASON = "service retired"
MAX_ROUNDS = 20  # of emptying the queue, while messages still arrive by other bindings
MAX_TAKE = 10_000  # messages held at once; a longer queue takes more rounds
TAKE_TIMEOUT_S = 5.0  # for the counted messages to arrive: fewer do if some expired since


class RetireError(Exception):
    """The service cannot be retired now (the message says why and what to do)."""


@dataclass
class Retired:
    service: str
    queue: str
    existed: bool = False
    rerouted: list[str] = field(default_factory=list)  # event ids published again
    dead_lettered: int = 0
    dropped: int = 0


async def retire_service(url: str, service: str, *, press_ttl_ms: int) -> Retired:
    """Delete `service`'s queue, hand on what waited in it, and tell the menus."""
    result = Retired(service=service, queue=t.service_queue(service))
    fresh: list[KeyPress] = []
    connection = await connect_first(url, name="dtmf-retire")
    async with connection:
        try:
            await _delete_queue(connection, result, fresh, press_ttl_ms=press_ttl_ms)
            await _announce_retired(await connection.channel(), service)
        finally:
            # Whatever happened, a press taken from the queue is published again: to the
            # menu once the queue is gone, back to the service if it came back meanwhile.
            channel = await connection.channel(publisher_confirms=True)
            events = await channel.get_exchange(t.EVENTS_EXCHANGE, ensure=False)
            for press in fresh:
                await events.publish(to_message(press), routing_key=press.routing_key)
                result.rerouted.append(press.event_id)
    return result


async def _delete_queue(
    connection: AbstractConnection, result: Retired, fresh: list[KeyPress], *, press_ttl_ms: int
) -> None:
    channel = await connection.channel(publisher_confirms=True)
    try:
        queue = await channel.declare_queue(result.queue, passive=True)
    except ChannelNotFoundEntity:
        return
    result.existed = True
    _refuse_if_consumed(result, queue)
    # Presses stop coming first: from here on the alternate exchange hands them to the menu.
    for key in KEYS:
        await queue.unbind(t.ROUTES_EXCHANGE, routing_key=key_routing_key(key))
    dead = await channel.get_exchange(t.DEAD_EXCHANGE, ensure=False)
    now = datetime.now(UTC)
    ttl = timedelta(milliseconds=press_ttl_ms)
    for _ in range(MAX_ROUNDS):
        depth = queue.declaration_result.message_count or 0
        if depth == 0:
            # Quorum queues refuse if-empty and if-unused deletes; the queue was empty a
            # round trip ago, and no key press can reach it any more.
            await queue.delete(if_unused=False, if_empty=False)
            return
        for message in await take_head(
            channel, queue, min(depth, MAX_TAKE), timeout=TAKE_TIMEOUT_S
        ):
            await _sort(message, dead, result, fresh, now=now, ttl=ttl)
        # (Its consumer count may still show the one that just took them: not checked.)
        queue = await channel.declare_queue(result.queue, passive=True)
    raise RetireError(f"{result.queue} still held messages after {MAX_ROUNDS} rounds")


def _refuse_if_consumed(result: Retired, queue: AbstractQueue) -> None:
    consumers = queue.declaration_result.consumer_count or 0
    if consumers:
        raise RetireError(
            f"{result.queue} has {consumers} consumer(s): stop every instance of "
            f"{result.service} first (on Kubernetes, delete its Deployment); a running "
            "service declares its queue and bindings again and keeps announcing its keys"
        )


async def _sort(
    message: AbstractIncomingMessage,
    dead: AbstractExchange,
    result: Retired,
    fresh: list[KeyPress],
    *,
    now: datetime,
    ttl: timedelta,
) -> None:
    try:
        event = parse_event(message.body)
    except (ValidationError, ValueError):
        event = None
    if isinstance(event, KeyPress) and not event.collecting and event.age(now) < ttl:
        fresh.append(event)  # held here, published again once the queue is gone
    elif isinstance(event, CallStarted | CallEnded):
        result.dropped += 1
    else:
        await dead.publish(
            to_dead_letter(message, reason=RETIRED_REASON, service=result.service),
            routing_key=message.routing_key or "",
        )
        result.dead_lettered += 1
    await message.ack()


async def _announce_retired(channel: AbstractChannel, service: str) -> None:
    exchange = await channel.declare_exchange(
        CONTROL_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    retired = ServiceAnnouncement(service=service, label=service, status="retired")
    await exchange.publish(to_control(retired), routing_key=ANNOUNCE_ROUTING_KEY)


# --- command line -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", help="the service's name, as in its queue dtmf.svc.<name>")


def report(result: Retired) -> list[str]:
    if not result.existed:
        return [f"{result.queue} does not exist; menus were told to forget {result.service}"]
    return [
        f"retired {result.service}: deleted {result.queue} and its bindings; its keys now "
        "go to the menu",
        f"  {len(result.rerouted)} waiting press(es) routed again, "
        f"{result.dead_lettered} message(s) to {t.DEAD_QUEUE}, "
        f"{result.dropped} call start/end copies dropped",
    ]


async def run(args: argparse.Namespace, *, out: Callable[[str], None] = print) -> int:
    settings = Settings.from_env()
    try:
        result = await retire_service(
            settings.amqp_url, args.service, press_ttl_ms=settings.press_ttl_ms
        )
    except (RetireError, BrokerUnreachable) as error:
        out(f"error: {error}")
        return 1
    for line in report(result):
        out(line)
    log.info("retired %s at %s", args.service, redact(settings.amqp_url))
    return 0
