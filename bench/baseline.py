"""The floor to compare dtmf-bus with: the leanest aio-pika request -> reply loop.

No application logic at all: no models, no validation, no routing through the topic
exchanges, no call log. Two processes on the same broker and machine:

- `python -m bench.baseline service --queue Q`: consumes Q and, for every message,
  publishes a reply (confirmed) to the message's reply_to queue, then acks it;
- `python -m bench.baseline driver --concurrency C ...`: a load worker (see bench.worker)
  that runs C loops, each publishing a request (confirmed) and awaiting its reply on its
  own reply queue before the next, like the closed-loop edge does.

The request queue is a quorum queue like the services' (`--kind classic` for a lighter
one), messages are persistent, both sides publish with confirms and ack manually after
handling, and the replies go to an exclusive classic queue: the leanest durable loop. The
bodies have the size of a real key press and reply.

`--kind matched` adds what dtmf-bus's own durability costs on top, still without any
application logic: every request is also copied to a second quorum queue that is consumed
and acked (the call log's copy of every press), and the replies go to a durable quorum
queue (the edge's reply queue). The system's ratio to this one is the cost of its code.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import signal
import time
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage, AbstractQueue

from bench.worker import Recorder, announce, sleep_until, wait_for_go, write_result

log = logging.getLogger("bench.baseline")

PREFETCH = int(os.environ.get("DTMF_PREFETCH") or 64)


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


def queue_arguments(kind: str) -> dict[str, Any]:
    return {"x-queue-type": "classic" if kind == "classic" else "quorum"}


async def declare_requests(
    channel: AbstractChannel, queue_name: str, kind: str
) -> tuple[AbstractExchange, str, AbstractQueue, AbstractQueue | None]:
    """The request queue, and the exchange and routing key that reach it: straight through
    the default exchange, or (matched) a fanout that also copies each request to a log queue."""
    queue = await channel.declare_queue(queue_name, durable=True, arguments=queue_arguments(kind))
    if kind != MATCHED:
        return channel.default_exchange, queue_name, queue, None
    fanout = await channel.declare_exchange(
        f"{queue_name}.in", aio_pika.ExchangeType.FANOUT, durable=True
    )
    log_queue = await channel.declare_queue(
        f"{queue_name}.log", durable=True, arguments=queue_arguments(kind)
    )
    await queue.bind(fanout)
    await log_queue.bind(fanout)
    return fanout, "", queue, log_queue


async def serve(url: str, queue_name: str, kind: str) -> None:
    _, reply_body = sample_bodies()
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=PREFETCH)
    _, _, queue, log_queue = await declare_requests(channel, queue_name, kind)
    exchange = channel.default_exchange

    async def on_request(message: AbstractIncomingMessage) -> None:
        await exchange.publish(
            aio_pika.Message(
                body=reply_body,
                correlation_id=message.correlation_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=message.reply_to or "",
        )
        await message.ack()

    async def on_log(message: AbstractIncomingMessage) -> None:
        await message.ack()

    tag = await queue.consume(on_request)
    if log_queue is not None:
        # A channel of its own, as the call log has its own connection.
        log_channel = await connection.channel()
        await log_channel.set_qos(prefetch_count=PREFETCH)
        await (await log_channel.get_queue(log_queue.name)).consume(on_log)
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
    # Declared here too, identically, so the driver may start before the service.
    exchange, routing_key, _, _ = await declare_requests(channel, args.queue, args.kind)
    if args.kind == MATCHED:
        reply_queue = await channel.declare_queue(
            f"{args.queue}.replies.{os.getpid()}", durable=True, arguments=queue_arguments(MATCHED)
        )
    else:
        reply_queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    waiting: dict[str, asyncio.Future[None]] = {}

    async def on_reply(message: AbstractIncomingMessage) -> None:
        future = waiting.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(None)
        await message.ack()

    tag = await reply_queue.consume(on_reply)
    ids = itertools.count()
    loop = asyncio.get_running_loop()
    announce("ready", concurrency=args.concurrency)
    go = await wait_for_go()
    rec = Recorder(go)

    async def caller() -> None:
        while time.monotonic() < go.window_end:
            correlation_id = str(next(ids))
            future = waiting[correlation_id] = loop.create_future()
            t0 = time.monotonic()
            try:
                await exchange.publish(
                    aio_pika.Message(
                        body=press_body,
                        content_type="application/json",
                        correlation_id=correlation_id,
                        reply_to=reply_queue.name,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=routing_key,
                )
                await asyncio.wait_for(future, args.reply_timeout)
            except TimeoutError:
                waiting.pop(correlation_id, None)
                rec.unanswered(t0)
                continue
            except Exception:
                log.exception("publish failed")
                waiting.pop(correlation_id, None)
                rec.unanswered(t0, error=True)
                continue
            rec.answered(t0, time.monotonic())

    await sleep_until(go.start)
    await asyncio.gather(*(caller() for _ in range(args.concurrency)))
    announce("measured")
    await reply_queue.cancel(tag)
    if args.kind == MATCHED:
        await reply_queue.delete(if_unused=False, if_empty=False)
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
    drv = sub.choices["driver"]
    drv.add_argument("--concurrency", type=int, required=True)
    drv.add_argument("--reply-timeout", type=float, default=5.0)
    drv.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    coro = serve(args.url, args.queue, args.kind) if args.role == "service" else drive(args)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
