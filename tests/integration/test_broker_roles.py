"""Each process connects as a user of its role (tools/broker_access): it can do its whole job,
and the broker refuses it what the role does not include (ACCESS_REFUSED)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from aiormq.exceptions import ChannelAccessRefused

from contracts import topology as t
from contracts.events import input_routing_key
from services.billing import service as billing
from services.billing.service import ASK, balance_sentence
from services.edge.bus import running_edge
from services.edge.edge import Edge
from services.edge.simulator import scripted_call
from services.menu import service as menu
from services.runtime.app import running_service
from services.runtime.service import ConsumerService
from services.runtime.settings import Settings
from services.sales import service as sales
from tests.integration.broker_roles import role_urls
from tests.integration.conftest import WatchedCallLog
from tests.support import RecordingSession
from tools.broker_access.permissions import edge_grant, monitoring_grant, service_grant
from tools.broker_access.roles import service_shape

pytestmark = pytest.mark.integration

EDGE_ID = "edge-roles"
REPLY_S = 5.0


@dataclass
class Roles:
    urls: dict[str, str]
    admin_url: str
    edge: Edge
    calllog: WatchedCallLog


@pytest.fixture
async def roles(amqp_url: str, settings: Settings) -> AsyncIterator[Roles]:
    """sales, billing, menu and the call log, and an edge: each as a user of its own role."""
    calllog = WatchedCallLog(settings.calllog_path)
    services: list[ConsumerService] = [
        sales.build(settings),
        billing.build(settings),
        menu.build(settings),
        calllog.service(),
    ]
    grants = [edge_grant(), *(service_grant(service_shape(s)) for s in services)]
    with role_urls(amqp_url, [*grants, monitoring_grant()]) as urls:
        async with AsyncExitStack() as stack:
            for service in services:
                own = replace(settings, amqp_url=urls[f"svc-{service.name}"])
                await stack.enter_async_context(running_service(service, own))
            edge_settings = replace(settings, amqp_url=urls["edge"], edge_id=EDGE_ID)
            edge = await stack.enter_async_context(running_edge(edge_settings))
            yield Roles(urls=urls, admin_url=amqp_url, edge=edge, calllog=calllog)


async def test_every_role_does_its_whole_job_with_its_own_user(roles: Roles) -> None:
    result = await scripted_call(roles.edge, ["1", "9"], reply_timeout=REPLY_S, out=lambda _: None)
    assert result.unanswered == []
    routed, invalid = result.session.said
    assert routed == "Routing you to Sales..." and invalid.startswith("Invalid input.")

    # billing: a gather, then the gathered digits (input.account) reach it and it answers.
    session = RecordingSession()
    call = await roles.edge.start_call(session, source="simulator")
    await roles.edge.press(call, "3")
    assert await session.said_count(1, timeout=REPLY_S) == [ASK]
    for key in "12345#":
        await roles.edge.press(call, key)
    said = await session.said_count(2, timeout=REPLY_S)
    assert said[1] == balance_sentence("12345")

    # The call log, reading its queue, got both calls' presses.
    await roles.calllog.until(lambda written: len(written) >= 2 + 2 + 6, timeout=REPLY_S)


Attempt = Callable[[AbstractChannel], Awaitable[object]]


async def _refused(url: str, attempt: Attempt) -> bool:
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        try:
            await attempt(channel)
        except ChannelAccessRefused:
            return True
        return False


def _publish(exchange: str, routing_key: str) -> Attempt:
    async def attempt(channel: AbstractChannel) -> None:
        target = await channel.get_exchange(exchange, ensure=False)
        await target.publish(aio_pika.Message(b"{}"), routing_key=routing_key, timeout=REPLY_S)

    return attempt


def _consume(queue: str) -> Attempt:
    # basic.consume as it is: a passive declare first would meet an exclusive queue's lock.
    async def attempt(channel: AbstractChannel) -> None:
        underlay = await channel.get_underlay_channel()
        await underlay.basic_consume(queue, lambda message: None)

    return attempt


def _delete(queue: str) -> Attempt:
    return lambda channel: channel.queue_delete(queue)


def _bind_own_queue(service: str, exchange: str, routing_key: str) -> Attempt:
    async def attempt(channel: AbstractChannel) -> None:
        queue = await channel.declare_queue(t.service_queue(service), passive=True)
        await queue.bind(exchange, routing_key=routing_key)

    return attempt


def refusals(reply_queue: str) -> Iterator[tuple[str, str, Attempt]]:
    """(role, what it tries, the attempt): all refused."""
    sales_q, billing_q, log_q = (t.service_queue(n) for n in ("sales", "billing", "calllog"))
    yield "svc-sales", "publish a key press", _publish(t.EVENTS_EXCHANGE, "dtmf.3")
    yield "svc-sales", "consume billing's queue", _consume(billing_q)
    yield "svc-sales", "consume an edge's reply queue", _consume(reply_queue)
    yield (
        "svc-sales",
        "bind billing's input",
        _bind_own_queue("sales", t.EVENTS_EXCHANGE, input_routing_key(billing.ACCOUNT)),
    )
    yield "svc-sales", "bind another's key", _bind_own_queue("sales", t.ROUTES_EXCHANGE, "dtmf.3")
    yield "svc-sales", "delete billing's queue", _delete(billing_q)
    yield "svc-billing", "delete the call log's queue", _delete(log_q)
    yield "edge", "consume a service queue", _consume(sales_q)
    yield "edge", "publish a reply", _publish(t.REPLIES_EXCHANGE, EDGE_ID)
    yield "edge", "delete a service queue", _delete(sales_q)
    # Not refused, by design for now: every process declares the exchanges it uses, which
    # takes configure on dtmf.dead, and so on the queue of that name (it may delete it),
    # and a service may delete its own queue. See tools/broker_access/permissions.py.
    yield "svc-calllog", "publish a reply", _publish(t.REPLIES_EXCHANGE, EDGE_ID)
    yield "svc-calllog", "delete a service queue", _delete(sales_q)
    yield "monitor", "consume a queue", _consume(log_q)
    yield "monitor", "publish a key press", _publish(t.EVENTS_EXCHANGE, "dtmf.1")
    yield "monitor", "delete a queue", _delete(log_q)


async def test_each_role_is_refused_what_it_may_not_do(roles: Roles) -> None:
    allowed = [
        f"{role} could {what}"
        for role, what, attempt in refusals(t.reply_queue(EDGE_ID))
        if not await _refused(roles.urls[role], attempt)
    ]
    assert not allowed
    # What monitoring may do (KEDA's scaler): a passive declare gives a queue's depth.
    async with await aio_pika.connect(roles.urls["monitor"]) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(t.service_queue("calllog"), passive=True)
        assert queue.declaration_result.message_count == 0
    # Only an administrator deletes queues.
    async with await aio_pika.connect(roles.admin_url) as connection:
        channel = await connection.channel()
        await channel.queue_delete(t.service_queue("billing"))
