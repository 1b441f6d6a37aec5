"""The peer's consumer services: FastStream apps, one process each, run as FastStream runs
them: `faststream run bench.faststream.services:sales --factory` (AMQP_URL names the broker).

Each does what its counterpart in the system does, with the same message models
(contracts: KeyPress in, Reply out): sales and support answer their key with new
instructions and a prompt, the menu answers every key nobody serves with the invalid-input
prompt, the call log writes every event as a JSON line. Replies go to dtmf.replies with the
edge id the press names (`reply_to`), persistent and confirmed. Once its subscribers
consume, a process prints `{"event": "ready"}` for the bench (bench.worker's protocol).
"""

from __future__ import annotations

import os
from pathlib import Path

from faststream import FastStream
from faststream.rabbit import RabbitBroker, RabbitExchange

from bench.faststream.topology import (
    EVENTS,
    REPLIES,
    ROUTES,
    UNROUTED,
    declare_dead_letters,
    make_broker,
    service_queue,
)
from bench.worker import announce
from contracts import Action, KeyPress, Reply, Say, SetInstructions
from contracts import topology as t
from contracts.events import Event
from contracts.keys import key_routing_key

# The system's own instructions, so both put the same bytes on the wire.
from services.sales.service import INSTRUCTIONS as SALES
from services.support.service import INSTRUCTIONS as SUPPORT

INVALID_INPUT = "Invalid input. Press 1 for Sales or 2 for Support."


def _app(broker: RabbitBroker) -> FastStream:
    app = FastStream(broker)

    @app.after_startup
    async def ready() -> None:
        await declare_dead_letters(broker)
        announce("ready")

    return app


def _answering(
    name: str, exchange: RabbitExchange, binding_key: str, actions: list[Action]
) -> FastStream:
    """An interactive service: every press on its queue answered with `actions`."""
    broker = make_broker()
    replies = broker.publisher(exchange=REPLIES, persist=True)

    @broker.subscriber(service_queue(name, interactive=True, binding_key=binding_key), exchange)
    async def answer(press: KeyPress) -> None:
        reply = Reply(
            call_id=press.call_id,
            in_reply_to=press.event_id,
            sequence=press.sequence,
            service=name,
            actions=actions,
        )
        await replies.publish(reply, routing_key=press.reply_to)

    return _app(broker)


def sales() -> FastStream:
    actions: list[Action] = [
        SetInstructions(instructions=SALES),
        Say(text="Routing you to Sales..."),
    ]
    return _answering("sales", ROUTES, key_routing_key("1"), actions)


def support() -> FastStream:
    actions: list[Action] = [
        SetInstructions(instructions=SUPPORT),
        Say(text="Routing you to Support..."),
    ]
    return _answering("support", ROUTES, key_routing_key("2"), actions)


def menu() -> FastStream:
    # A fanout exchange ignores binding keys: every unrouted press reaches the menu.
    return _answering("menu", UNROUTED, "", [Say(text=INVALID_INPUT)])


def calllog() -> FastStream:
    """Every event as one JSON line, acked once written (not fsync'ed: the system's call
    log syncs in groups, so this one does less work per event than the system's)."""
    broker = make_broker()
    path = Path(os.environ.get("FASTSTREAM_CALLLOG_PATH") or "faststream-calllog.jsonl")
    sink = path.open("a", encoding="utf-8")

    @broker.subscriber(
        service_queue("calllog", interactive=False, binding_key=t.ALL_EVENTS_BINDING), EVENTS
    )
    async def log_event(event: Event) -> None:
        sink.write(event.model_dump_json() + "\n")
        sink.flush()

    app = _app(broker)
    app.on_shutdown(sink.close)
    return app
