"""The floor to compare dtmf-bus with: the leanest aio-pika request -> reply loop.

No application logic at all: no models, no validation, no routing through the topic
exchanges, no call log. Two processes on the same broker and machine (more for `matched`):

- `python -m bench.baseline service --queue Q`: consumes Q and, for every message,
  publishes a reply (confirmed) to the message's reply_to queue, then acks it;
- `python -m bench.baseline driver --concurrency C ...`: a load worker (see bench.worker)
  that runs C loops, each publishing a request (confirmed) and awaiting its reply on its
  own reply queue before the next, like the closed-loop edge does; or, with `--calls N
  --interval S`, N callers each sending a request every S seconds (the open loop).

The request queue is a quorum queue like the services' (`--kind classic` for a lighter
one), messages are persistent, both sides publish with confirms and ack manually after
handling, and the replies go to an exclusive classic queue: the leanest durable loop. The
bodies have the size of a real key press and reply.

`--kind matched` runs the same loop on dtmf-bus's own topology and durability, still
without any application logic (see bench.matched): requests go through dtmf-bus's
exchanges (under names of their own) with the routing keys of the system's key mix, to a
mirror of each of the system's consumer services, its own process consuming a queue with
that service's arguments and bindings; the interactive ones reply at once, the call log's
only acks; replies go through a direct exchange to a durable quorum reply queue (the
edge's), and the driver publishes on a connection of its own, as the edge publishes its
events. It is the floor of this design on this machine: the system's ratio to it is the
cost of our code, its ratio to the lean loop the cost of the design. With `--calls` the
driver runs the open loop, which shows the same floor for latency at a given load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue

from bench import matched
from bench.plan import DEFAULT_KEYS
from bench.worker import (
    Recorder,
    announce,
    key_mix,
    paced,
    sleep_until,
    wait_for_go,
    write_result,
)
from contracts import topology as t
from contracts.keys import key_routing_key
from contracts.version import SCHEMA_VERSION

log = logging.getLogger("bench.baseline")

PREFETCH = int(os.environ.get("DTMF_PREFETCH") or 64)
SCHEMA_HEADER = {"x-schema-version": SCHEMA_VERSION}


def sample_bodies() -> tuple[bytes, bytes]:
    """A key press and a reply exactly as dtmf-bus would put them on the wire."""
    from contracts.base import utcnow
    from contracts.events import KeyPress
    from contracts.replies import Reply, Say, SetInstructions
    from services.sales.service import INSTRUCTIONS

    now = utcnow()
    press = KeyPress(
        call_id="c" * 32,
        reply_to="edge-host-12345678",
        source="simulator",
        key="1",
        sequence=1,
        pressed_at=now,
        received_at=now,
    )
    reply = Reply(
        call_id="c" * 32,
        in_reply_to=press.event_id,
        service="sales",
        actions=[SetInstructions(instructions=INSTRUCTIONS), Say(text="Routing you to Sales...")],
    )
    return press.model_dump_json().encode(), reply.model_dump_json().encode()


MATCHED = "matched"
KINDS = ("quorum", "classic", MATCHED)


@dataclass(frozen=True)
class Requests:
    """Where a driver publishes its requests (the routing keys in turn) and reads replies."""

    exchange: AbstractExchange
    routing_keys: list[str]
    replies: AbstractQueue


async def lean_queue(channel: AbstractChannel, name: str, kind: str) -> AbstractQueue:
    args: dict[str, Any] = {"x-queue-type": kind}
    return await channel.declare_queue(name, durable=True, arguments=args)


async def declare_requests(channel: AbstractChannel, args: argparse.Namespace) -> Requests:
    if args.kind != MATCHED:
        # Declared here too, identically, so the driver may start before the service.
        await lean_queue(channel, args.queue, args.kind)
        replies = await channel.declare_queue(exclusive=True, auto_delete=True)
        return Requests(channel.default_exchange, [args.queue], replies)
    exchanges = await matched.declare_exchanges(channel, args.queue)
    replies = await matched.declare_reply_queue(
        channel, exchanges, f"{args.queue}.replies.{os.getpid()}"
    )
    # The presses of the system's key mix, so each mirror gets its service's share.
    keys = [key_routing_key(key) for key in key_mix(args.keys)]
    return Requests(exchanges.events, keys, replies)


def request_message(body: bytes, correlation_id: str, reply_to: str, kind: str) -> aio_pika.Message:
    """A request; the matched one also carries what the edge's events carry."""
    extra: dict[str, Any] = {}
    if kind == MATCHED:
        extra = {"message_id": correlation_id, "type": "key_press", "headers": SCHEMA_HEADER}
    return aio_pika.Message(
        body=body,
        content_type=t.CONTENT_TYPE,
        correlation_id=correlation_id,
        reply_to=reply_to,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        **extra,
    )


def reply_message(body: bytes, correlation_id: str | None, kind: str) -> aio_pika.Message:
    """A reply; the matched one also carries what the services' replies carry."""
    extra: dict[str, Any] = {}
    if kind == MATCHED:
        extra = {
            "message_id": f"r{correlation_id}",
            "type": "reply",
            "content_type": t.CONTENT_TYPE,
            "headers": SCHEMA_HEADER,
        }
    return aio_pika.Message(
        body=body,
        correlation_id=correlation_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        **extra,
    )


async def serve(args: argparse.Namespace) -> None:
    _, reply_body = sample_bodies()
    connection = await aio_pika.connect(args.url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=PREFETCH)
    replies: AbstractExchange | None
    if args.kind == MATCHED:
        service = matched.load_service(args.mirror)
        exchanges = await matched.declare_exchanges(channel, args.queue)
        queue = await matched.declare_mirror(channel, args.queue, service)
        # A service that is not interactive (the call log) answers nothing: it only acks.
        replies = exchanges.replies if service.interactive else None
    else:
        queue = await lean_queue(channel, args.queue, args.kind)
        replies = channel.default_exchange

    async def on_request(message: AbstractIncomingMessage) -> None:
        if replies is not None:
            await replies.publish(
                reply_message(reply_body, message.correlation_id, args.kind),
                routing_key=message.reply_to or "",
                mandatory=args.kind == MATCHED,  # as the services send replies
            )
        await message.ack()

    tag = await queue.consume(on_request)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    announce("ready")
    await stop.wait()
    await queue.cancel(tag)
    await connection.close()


async def drive(args: argparse.Namespace) -> None:
    press_body, _ = sample_bodies()
    connection = await aio_pika.connect(args.url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=PREFETCH)
    requests = await declare_requests(channel, args)
    keys = requests.routing_keys
    waiting: dict[str, asyncio.Future[None]] = {}
    publishing, exchange = connection, requests.exchange
    if args.kind == MATCHED:
        # Like the edge: events on a connection of their own, replies read on the other.
        publishing = await aio_pika.connect(args.url)
        events_channel = await publishing.channel(publisher_confirms=True)
        exchange = await events_channel.get_exchange(requests.exchange.name, ensure=False)

    async def on_reply(message: AbstractIncomingMessage) -> None:
        future = waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(None)
        await message.ack()

    tag = await requests.replies.consume(on_reply)
    ids = itertools.count()
    loop = asyncio.get_running_loop()
    announce("ready", concurrency=args.concurrency or args.calls)
    go = await wait_for_go()
    rec = Recorder(go)

    async def request(routing_key: str, due: float | None = None) -> None:
        correlation_id = str(next(ids))
        future = waiting[correlation_id] = loop.create_future()
        t0 = time.monotonic()
        try:
            await exchange.publish(
                request_message(press_body, correlation_id, requests.replies.name, args.kind),
                routing_key=routing_key,
            )
            await asyncio.wait_for(future, args.reply_timeout)
        except TimeoutError:
            waiting.pop(correlation_id, None)
            rec.unanswered(t0)
            return
        except Exception:
            log.exception("publish failed")
            waiting.pop(correlation_id, None)
            rec.unanswered(t0, error=True)
            return
        rec.answered(t0, time.monotonic(), None if due is None else t0 - due)

    # Callers go through the keys as the edge's load generator does (bench.loadgen).
    async def caller(index: int) -> None:
        n = index
        while time.monotonic() < go.window_end:
            await request(keys[n % len(keys)])
            n += 1

    async def press(index: int, n: int, due: float) -> None:
        await request(keys[(index + n) % len(keys)], due)

    if args.calls:
        await paced(
            go,
            press,
            count=args.calls,
            offset=args.offset,
            total=args.total or args.calls,
            interval=args.interval,
        )
    else:
        await sleep_until(go.start)
        await asyncio.gather(*(caller(args.offset + i) for i in range(args.concurrency)))
    announce("measured")
    await requests.replies.cancel(tag)
    if args.kind == MATCHED:
        await requests.replies.delete(if_unused=False, if_empty=False)
    if publishing is not connection:
        await publishing.close()
    await connection.close()
    write_result(args.result, {"memory": None, **rec.as_dict()})
    announce("done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    sub = parser.add_subparsers(dest="role", required=True)
    for role in ("service", "driver"):
        p = sub.add_parser(role)
        p.add_argument("--url", default=os.environ.get("AMQP_URL", ""), help="AMQP URL")
        p.add_argument("--queue", default="bench.baseline.requests")
        p.add_argument("--kind", choices=KINDS, default="quorum")
        p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    sub.choices["service"].add_argument(
        "--mirror", help="matched: the system's service whose queue this one mirrors"
    )
    drv = sub.choices["driver"]
    loads = drv.add_mutually_exclusive_group(required=True)
    loads.add_argument("--concurrency", type=int, help="closed loop: concurrent callers")
    loads.add_argument("--calls", type=int, help="open loop: callers on this driver")
    drv.add_argument("--offset", type=int, default=0, help="open loop: index of the first caller")
    drv.add_argument("--total", type=int, default=0, help="open loop: callers over all drivers")
    drv.add_argument("--interval", type=float, default=2.0, help="open loop: s between requests")
    drv.add_argument("--keys", default=DEFAULT_KEYS, help="matched: the key mix, in turn")
    drv.add_argument("--reply-timeout", type=float, default=5.0)
    drv.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.role == "service" and args.kind == MATCHED and not args.mirror:
        parser.error("--kind matched needs --mirror SERVICE")
    coro = serve(args) if args.role == "service" else drive(args)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
