"""Runs a ConsumerService against the broker until told to stop, then drains."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from contracts import topology as t
from contracts.control import CONTROL_EXCHANGE
from contracts.events import CallEvent, parse_event
from services.runtime import logs, tracing
from services.runtime.amqp import broker
from services.runtime.amqp.control import Control, start_control
from services.runtime.amqp.replies import ReplySender
from services.runtime.amqp.runner import Runner
from services.runtime.dispatch import Dispatcher
from services.runtime.http import http_server
from services.runtime.lifecycle import bounded
from services.runtime.metrics import Metrics
from services.runtime.outcomes import Outcome
from services.runtime.service import ConsumerService
from services.runtime.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RunningService:
    service: ConsumerService
    connection: broker.Connection
    queue: broker.Queue
    runner: Runner[CallEvent]
    replies: ReplySender
    consumer_tag: str
    metrics: Metrics
    link: broker.LinkState
    control: Control
    http_port: int | None = None

    def readiness(self) -> str | None:
        """Ready = connected and consuming; a reconnecting robust connection is not ready."""
        if not self.link.up:
            return "not connected to the broker"
        return None


async def _start(service: ConsumerService, settings: Settings, metrics: Metrics) -> RunningService:
    connection = await broker.connect(settings.amqp_url, name=f"dtmf-{service.name}")
    link = broker.LinkState(connection)
    metrics.broker_connected.labels(service.name).set_function(lambda: float(link.up))
    try:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=settings.prefetch)
        topo = await broker.declare_topology(channel, control=True)
        queue = await broker.declare_service_queue(
            channel,
            service=service.name,
            interactive=service.interactive,
            delivery_limit=settings.delivery_limit,
            ttl_ms=settings.press_ttl_ms,
        )
        for binding in service.queue_bindings:
            await queue.bind(binding.exchange, routing_key=binding.routing_key)

        # A channel of its own that raises on a returned (unroutable) reply, which the sender
        # retries; elsewhere a returned message (an announcement nobody hears) is no error.
        replies_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        send_reply = ReplySender(
            await replies_channel.get_exchange(t.REPLIES_EXCHANGE, ensure=False),
            retry_for_s=settings.reply_timeout_s,
            on_undeliverable=metrics.replies_undeliverable.labels(service.name).inc,
        )

        dispatcher = Dispatcher(
            service,
            send_reply=send_reply,
            max_age=timedelta(milliseconds=settings.press_ttl_ms),
            observe_duration=metrics.handler_duration.labels(service.name).observe,
        )
        runner: Runner[CallEvent] = Runner(
            name=service.name,
            decode=parse_event,
            handle=dispatcher,
            dead=topo.dead,
            identify=lambda event: event.event_id,
            max_body_bytes=settings.max_body_bytes,
            on_outcome=lambda outcome: handled[outcome].inc(),
        )
        handled = {o: metrics.messages_handled.labels(service.name, o.value) for o in Outcome}
        tag = await queue.consume(runner)
        # dtmf.control was declared or checked with the topology (no round trip here).
        exchange = await channel.get_exchange(CONTROL_EXCHANGE, ensure=False)
        control = await start_control(channel, service, exchange=exchange)
    except BaseException:
        await connection.close()
        raise
    log.info("%s consuming %s (%d bindings)", service.name, queue.name, len(service.bindings))
    return RunningService(
        service, connection, queue, runner, send_reply, tag, metrics, link, control
    )


async def _stop(running: RunningService, *, timeout: float) -> None:
    # Stop taking new deliveries, let in-flight ones finish (and ack), then close;
    # anything unacked at close is redelivered to another consumer by the broker.
    # Every step is bounded: with the broker away, a robust channel would wait for it.
    name = running.service.name
    await bounded(running.control.stop(), what=f"{name}: announce going down", timeout=2)
    await bounded(running.queue.cancel(running.consumer_tag), what=f"{name}: cancel", timeout=2)
    if not await running.runner.drained(timeout=timeout):
        log.warning("%s: drain bound of %.1fs reached; closing", name, timeout)
    if running.replies.retrying:
        log.warning(
            "%s: %d replies still wait for their edge: dropped", name, running.replies.retrying
        )
    await running.replies.close()
    await bounded(running.connection.close(), what=f"{name}: close", timeout=5)
    log.info("%s stopped", name)


@asynccontextmanager
async def running_service(
    service: ConsumerService, settings: Settings, *, metrics: Metrics | None = None
) -> AsyncIterator[RunningService]:
    """The service consuming, with its HTTP endpoints, until the block exits (then drained)."""
    metrics = metrics if metrics is not None else Metrics()
    # Before connecting: the connection's tasks, and so every delivery, inherit the field.
    logs.bind(service=service.name)
    tracing.start_from_env(f"dtmf-{service.name}")
    running = await _start(service, settings, metrics)
    try:
        async with http_server(
            metrics, running.readiness, host=settings.http_host, port=settings.http_port
        ) as port:
            running.http_port = port
            yield running
    finally:
        await _stop(running, timeout=settings.shutdown_timeout_s)
        await tracing.flush()


async def serve(service: ConsumerService, settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set (by a signal, see services.runtime.lifecycle)."""
    async with running_service(service, settings):
        await stop.wait()
