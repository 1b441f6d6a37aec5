"""Each process connects as a user of its role (tools/broker_access): once an administrator
declared the shared topology it can do its whole job, and the broker refuses it what the role
does not include (ACCESS_REFUSED); without that step it fails saying what is missing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel
from aiormq.exceptions import ChannelAccessRefused

from contracts import topology as t
from contracts.events import input_routing_key
from contracts.shared_topology import shared_topology
from services.billing import service as billing
from services.billing.service import ASK, balance_sentence
from services.edge.bus import running_edge
from services.edge.edge import Edge
from services.edge.simulator import scripted_call
from services.menu import service as menu
from services.runtime.amqp.topology import SharedTopologyMissing
from services.runtime.app import running_service
from services.runtime.service import ConsumerService
from services.sales import service as sales
from tests.integration.broker_roles import role_urls
from tests.integration.conftest import SystemSettings, WatchedCallLog, publish_raw, tap
from tests.support import RecordingSession
from tools.broker_access.permissions import edge_grant, monitoring_grant, service_grant
from tools.broker_access.roles import service_shape
from tools.broker_access.topology import declare_shared_topology

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
async def roles(amqp_url: str, settings: SystemSettings) -> AsyncIterator[Roles]:
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
        await declare_shared_topology(amqp_url)  # the administrator's step
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


async def test_each_role_dead_letters_what_it_cannot_handle(roles: Roles) -> None:
    # Write on dtmf.dead stays with every role that consumes: only an administrator reads it.
    async with tap(roles.admin_url, t.DEAD_QUEUE) as dead:
        await publish_raw(roles.admin_url, b"{not json", routing_key="dtmf.1")
        await publish_raw(
            roles.admin_url, b"{not json", exchange=t.REPLIES_EXCHANGE, routing_key=EDGE_ID
        )
        letters = [await asyncio.wait_for(dead.get(), REPLY_S) for _ in range(3)]
    services = sorted(str(letter.headers[t.DEAD_SERVICE_HEADER]) for letter in letters)
    assert services == ["calllog", f"edge-{EDGE_ID}", "sales"]


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


def _delete_exchange(exchange: str) -> Attempt:
    return lambda channel: channel.exchange_delete(exchange)


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
    yield "svc-calllog", "publish a reply", _publish(t.REPLIES_EXCHANGE, EDGE_ID)
    yield "svc-calllog", "delete a service queue", _delete(sales_q)
    yield "monitor", "consume a queue", _consume(log_q)
    yield "monitor", "publish a key press", _publish(t.EVENTS_EXCHANGE, "dtmf.1")
    yield "monitor", "delete a queue", _delete(log_q)
    # The shared topology is the administrator's: nobody else deletes any of it, and dead
    # letters (every service's presses) are read by an administrator only. (A service may
    # still delete its own queue: declaring it takes configure on it.)
    topology = shared_topology()
    for role in ("edge", "svc-sales", "svc-billing", "svc-menu", "svc-calllog", "monitor"):
        for queue in topology.queues:
            yield role, f"delete the queue {queue.name}", _delete(queue.name)
        for exchange in topology.exchanges:
            yield role, f"delete the exchange {exchange.name}", _delete_exchange(exchange.name)
    for role in ("svc-sales", "svc-billing", "svc-menu", "svc-calllog"):
        yield role, "consume the dead letters", _consume(t.DEAD_QUEUE)


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


async def test_a_role_without_the_administrators_step_says_what_is_missing(
    amqp_url: str, settings: SystemSettings
) -> None:
    service = sales.build(settings)
    with role_urls(amqp_url, [service_grant(service_shape(service))]) as urls:
        own = replace(settings, amqp_url=urls["svc-sales"])
        with pytest.raises(SharedTopologyMissing) as missing:
            async with running_service(service, own):
                pass
    message = str(missing.value)
    assert f"exchange {t.EVENTS_EXCHANGE!r} does not exist" in message
    assert "python -m tools.broker_access topology" in message
    # It tried to declare it first, and was refused: nothing was declared in its name.
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
            await channel.declare_exchange(t.EVENTS_EXCHANGE, passive=True)
