"""The peer's edge side as a load worker: `python -m bench.faststream.edge --concurrency C`.

A FastStream broker with one subscriber, on the edge's own reply queue (exclusive, bound to
dtmf.replies with the edge id), and one publisher, to dtmf.events (persistent, confirmed).
C calls each press the next key of the mix (a KeyPress, as the system's edge builds one) as
soon as the previous press's reply has arrived, like the system's closed loop and the
floor's driver; a press unanswered within the reply timeout is lost. It speaks
bench.worker's line protocol, so the bench starts and measures it like every load worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import time

from bench.faststream.topology import EVENTS, REPLIES, make_broker, reply_queue
from bench.plan import DEFAULT_KEYS
from bench.worker import Recorder, announce, key_mix, sleep_until, wait_for_go, write_result
from contracts import KeyPress, Reply
from contracts.base import utcnow

log = logging.getLogger(__name__)


def edge_id() -> str:
    return f"faststream-{socket.gethostname()}-{os.getpid()}"


async def drive(args: argparse.Namespace) -> None:
    me = edge_id()
    broker = make_broker(args.url)
    waiting: dict[str, asyncio.Future[None]] = {}

    @broker.subscriber(reply_queue(me), REPLIES)
    async def on_reply(reply: Reply) -> None:
        future = waiting.pop(reply.in_reply_to, None)
        if future is not None and not future.done():
            future.set_result(None)

    events = broker.publisher(exchange=EVENTS, persist=True)
    keys = key_mix(args.keys)
    loop = asyncio.get_running_loop()
    async with broker:
        await broker.start()
        announce("ready", concurrency=args.concurrency)
        go = await wait_for_go()
        rec = Recorder(go)

        async def press(call_id: str, key: str, sequence: int) -> None:
            event = KeyPress(
                call_id=call_id,
                reply_to=me,
                source="simulator",
                key=key,
                sequence=sequence,
                pressed_at=utcnow(),
            )
            future = waiting[event.event_id] = loop.create_future()
            t0 = time.monotonic()
            try:
                await events.publish(event, routing_key=event.routing_key)
                await asyncio.wait_for(future, args.reply_timeout)
            except TimeoutError:
                waiting.pop(event.event_id, None)
                rec.unanswered(t0)
                return
            except Exception:
                log.exception("publish failed")
                waiting.pop(event.event_id, None)
                rec.unanswered(t0, error=True)
                return
            rec.answered(t0, time.monotonic())

        # Callers go through the keys as the system's load generator does (bench.loadgen).
        async def caller(index: int) -> None:
            call_id = f"{me}-{index}"
            n = index
            while time.monotonic() < go.window_end:
                await press(call_id, keys[n % len(keys)], n - index + 1)
                n += 1

        await sleep_until(go.start)
        await asyncio.gather(*(caller(args.offset + i) for i in range(args.concurrency)))
        announce("measured")
    write_result(args.result, {"memory": None, **rec.as_dict()})
    announce("done")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faststream.edge")
    p.add_argument("--url", default=os.environ.get("AMQP_URL", ""), help="AMQP URL")
    p.add_argument("--concurrency", type=int, required=True, help="concurrent calls")
    p.add_argument("--offset", type=int, default=0, help="index of this worker's first call")
    p.add_argument("--keys", default=DEFAULT_KEYS, help="the key mix, in turn")
    p.add_argument("--reply-timeout", type=float, default=5.0)
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    p.add_argument("--result", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(drive(args))
    else:
        asyncio.run(drive(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
