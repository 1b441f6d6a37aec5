"""`dtmf-bus dead-letters`: list without removing, replay by id, broker dead letters too."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from contracts import KeyPress
from contracts import topology as t
from services.runtime.amqp import broker
from tests.integration.conftest import System, publish_raw, until_queue_holds
from tools import deadletters
from tools.deadletters import DeadLetter, describe, list_dead_letters, replay_dead_letters

WAIT_S = 10
DEATH_HEADERS = (
    t.DEAD_REASON_HEADER,
    t.DEAD_SERVICE_HEADER,
    t.DEAD_EXCHANGE_HEADER,
    t.DEAD_ROUTING_KEY_HEADER,
    t.DEAD_AT_HEADER,
    "x-death",
    "x-first-death-reason",
    "x-first-death-queue",
    "x-first-death-exchange",
)


@asynccontextmanager
async def watch(
    amqp_url: str, exchange: str, routing_key: str = "#"
) -> AsyncIterator[asyncio.Queue[AbstractIncomingMessage]]:
    """Copies of what `exchange` routes, in a private queue: dtmf.dead itself is untouched."""
    seen: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key=routing_key)
        await queue.consume(seen.put, no_ack=True)
        yield seen


async def next_of(seen: asyncio.Queue[AbstractIncomingMessage]) -> AbstractIncomingMessage:
    return await asyncio.wait_for(seen.get(), WAIT_S)


async def dead_queue_depth(amqp_url: str) -> int:
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(t.DEAD_QUEUE, passive=True)
        return queue.declaration_result.message_count or 0


async def drain_dead_queue(amqp_url: str) -> list[DeadLetter]:
    """Empty dtmf.dead destructively: the order it gives back is the queue's real order."""
    letters = []
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(t.DEAD_QUEUE, passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            letters.append(describe(message))
    return letters


async def until_dead_queue_holds(amqp_url: str, count: int) -> None:
    """Wait for dtmf.dead to report at least `count` ready messages."""
    await until_queue_holds(amqp_url, t.DEAD_QUEUE, count)


async def dead_letter_malformed(system: System, count: int) -> None:
    """`count` unparseable presses on key 1: sales and the call log each dead-letter one."""
    url = system.settings.amqp_url
    for n in range(count):
        await publish_raw(url, b"{not json %d" % n, routing_key="dtmf.1")
    await until_dead_queue_holds(url, 2 * count)


def cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dtmf-bus dead-letters")
    deadletters.add_arguments(parser)
    return parser.parse_args(argv)


def ids(letters: list[DeadLetter]) -> list[str]:
    return [letter.message_id for letter in letters]


async def test_listing_describes_runtime_dead_letters_and_keeps_them_in_order(
    system: System, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = system.settings.amqp_url
    # More than 32: enough that a broker returning them in hash order would show.
    await dead_letter_malformed(system, 20)

    first = await list_dead_letters(url)
    assert len(first) == 40
    # Both copies of a press keep its AMQP message id (aio-pika gives every publish one).
    assert sorted(Counter(ids(first)).values()) == [2] * 20
    assert sorted(letter.service for letter in first) == ["calllog"] * 20 + ["sales"] * 20
    for letter in first:
        assert letter.origin == "runtime"
        assert letter.reason.startswith("invalid message")
        assert letter.original_exchange == t.EVENTS_EXCHANGE
        assert letter.original_routing_key == "dtmf.1"
        assert letter.dead_at is not None
        assert letter.age_s is not None and letter.age_s >= 0
        assert letter.body_preview.startswith("{not json ")
        assert letter.size == len(letter.body_preview)
        assert letter.content_type == t.CONTENT_TYPE
        assert letter.replays == 0

    # Still there, in the same order, and a limit takes from the head.
    assert await dead_queue_depth(url) == 40
    assert ids(await list_dead_letters(url, limit=5)) == ids(first)[:5]

    monkeypatch.setenv("AMQP_URL", url)
    assert await deadletters.run(cli("list")) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["AGE", "REASON", "SERVICE", "ROUTING", "KEY", "ID", "PREVIEW"]
    assert len(table) == 41
    assert all(letter.message_id in line for letter, line in zip(first, table[1:], strict=True))

    assert await deadletters.run(cli("list", "--json", "--limit", "3")) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["message_id"] for r in records] == ids(first)[:3]
    assert {r["original_routing_key"] for r in records} == {"dtmf.1"}
    assert all(r["service"] in {"sales", "calllog"} and r["dead_at"] for r in records)

    assert ids(await drain_dead_queue(url)) == ids(first)


async def test_replaying_one_id_republishes_it_and_leaves_the_others_in_order(
    system: System,
) -> None:
    url = system.settings.amqp_url
    await dead_letter_malformed(system, 20)
    before = await list_dead_letters(url)
    chosen = before[17]

    async with watch(url, t.EVENTS_EXCHANGE) as events, watch(url, t.DEAD_EXCHANGE) as dead:
        result = await replay_dead_letters(url, ids=[chosen.message_id])
        replayed = await next_of(events)
        # Still not JSON: sales and the call log dead-letter it again, marked as a replay.
        again = [await next_of(dead), await next_of(dead)]

    # Published once: dtmf.events takes it to both services again, so both dead copies go.
    assert result.replayed == (chosen.message_id,)
    assert result.removed == 2
    assert result.not_found == ()
    assert result.unroutable == ()

    assert replayed.routing_key == "dtmf.1"
    assert replayed.body.decode() == chosen.body_preview
    assert replayed.content_type == t.CONTENT_TYPE
    assert replayed.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert replayed.headers[deadletters.REPLAYED_HEADER] == 1
    assert not set(DEATH_HEADERS) & set(replayed.headers)
    assert sorted(str(m.headers[t.DEAD_SERVICE_HEADER]) for m in again) == ["calllog", "sales"]
    assert all(m.headers[deadletters.REPLAYED_HEADER] == 1 for m in again)

    await until_dead_queue_holds(url, 40)
    remaining = await drain_dead_queue(url)
    others = [letter for letter in before if letter.message_id != chosen.message_id]
    assert len(others) == 38
    assert ids(remaining[:38]) == ids(others)
    assert [(r.message_id, r.replays) for r in remaining[38:]] == [(chosen.message_id, 1)] * 2


async def test_replaying_an_unknown_id_fails_with_exit_code_2_and_changes_nothing(
    system: System, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = system.settings.amqp_url
    await dead_letter_malformed(system, 1)
    before = await list_dead_letters(url)
    monkeypatch.setenv("AMQP_URL", url)

    assert await deadletters.run(cli("replay", "no-such-id")) == 2
    assert "error: not in dtmf.dead: no-such-id" in capsys.readouterr().err
    assert await deadletters.run(cli("replay")) == 2
    assert "error: give dead-letter ids or --all" in capsys.readouterr().err
    assert ids(await drain_dead_queue(url)) == ids(before)


async def test_an_unreachable_broker_is_exit_code_2_without_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1 on loopback: refused at once, nothing listens there.
    monkeypatch.setenv("AMQP_URL", "amqp://guest:s3cret@127.0.0.1:1/")
    assert await deadletters.run(cli("list")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the broker at amqp://guest:***@127.0.0.1:1/")
    assert "s3cret" not in err


async def test_a_press_the_broker_expired_is_listed_with_its_queue_and_replayed_clean(
    amqp_url: str,
) -> None:
    queue_name = t.service_queue("expiring")
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        topo = await broker.declare_topology(channel)
        # A service queue as the runtime declares it, with a TTL nobody can beat.
        queue = await broker.declare_service_queue(
            channel, service="expiring", interactive=True, delivery_limit=5, ttl_ms=1
        )
        await queue.bind(topo.routes, routing_key="dtmf.7")
        press = KeyPress(
            call_id="c-exp",
            reply_to="edge-gone",
            source="simulator",
            key="7",
            sequence=1,
            pressed_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        )
        await topo.events.publish(
            aio_pika.Message(
                body=press.model_dump_json().encode(),
                content_type=t.CONTENT_TYPE,
                message_id=press.event_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="dtmf.7",
        )
        await until_dead_queue_holds(amqp_url, 1)

        [letter] = await list_dead_letters(amqp_url)
        assert letter.origin == "broker"
        assert letter.reason == "expired"
        assert letter.service == queue_name
        assert letter.message_id == press.event_id
        assert letter.original_exchange == t.EVENTS_EXCHANGE
        assert letter.original_routing_key == "dtmf.7"
        assert letter.dead_at is not None

        async with watch(amqp_url, t.EVENTS_EXCHANGE) as events:
            result = await replay_dead_letters(amqp_url, all_=True)
            replayed = await next_of(events)
        await until_dead_queue_holds(amqp_url, 1)  # expired again: nothing consumes the queue

    assert result.replayed == (press.event_id,)
    assert replayed.message_id == press.event_id
    assert replayed.routing_key == "dtmf.7"
    assert not set(DEATH_HEADERS) & set(replayed.headers)
    [again] = await list_dead_letters(amqp_url)
    assert (again.reason, again.service, again.replays) == ("expired", queue_name, 1)


async def test_a_press_past_the_delivery_limit_is_listed_with_that_reason(amqp_url: str) -> None:
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        topo = await broker.declare_topology(channel)
        queue = await broker.declare_service_queue(
            channel, service="failing", interactive=False, delivery_limit=1, ttl_ms=1
        )
        await queue.bind(topo.routes, routing_key="dtmf.4")

        async def fail(message: AbstractIncomingMessage) -> None:
            await message.nack(requeue=True)  # a handler that keeps raising

        await queue.consume(fail)
        await publish_raw(amqp_url, b'{"poison": true}', routing_key="dtmf.4")
        await until_dead_queue_holds(amqp_url, 1)

    [letter] = await list_dead_letters(amqp_url)
    assert (letter.origin, letter.reason) == ("broker", "delivery_limit")
    assert letter.service == t.service_queue("failing")
    assert letter.original_routing_key == "dtmf.4"


def test_a_dead_letter_without_an_amqp_id_gets_a_stable_one_per_copy() -> None:
    # Other clients may publish without a message id (aio-pika always sets one).
    def copy(service: str) -> SimpleNamespace:  # what describe() reads of a delivery
        return SimpleNamespace(
            message_id=None,
            body=b"\x00\xffbinary\nbody",
            routing_key="dtmf.1",
            content_type="application/octet-stream",
            headers={
                t.DEAD_REASON_HEADER: "wrong content type",
                t.DEAD_SERVICE_HEADER: service,
                t.DEAD_EXCHANGE_HEADER: t.EVENTS_EXCHANGE,
                t.DEAD_ROUTING_KEY_HEADER: "dtmf.1",
                t.DEAD_AT_HEADER: "2026-01-01T00:00:00+00:00",
            },
        )

    sales, again, calllog = (describe(copy(name)) for name in ("sales", "sales", "calllog"))  # type: ignore[arg-type]
    assert sales.message_id == again.message_id != calllog.message_id
    assert sales.message_id.startswith("h-")
    assert "\n" not in sales.body_preview and sales.size == 13


async def test_a_reply_goes_back_to_its_edge_and_stays_dead_while_the_edge_is_gone(
    amqp_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        topo = await broker.declare_topology(channel)
        # What the edge's runner publishes for a reply it could not read.
        await topo.dead.publish(
            aio_pika.Message(
                b'{"actions": [{"action": "dance"}]}',
                content_type=t.CONTENT_TYPE,
                message_id="reply-1",
                headers={
                    t.DEAD_REASON_HEADER: "invalid message: dance",
                    t.DEAD_SERVICE_HEADER: "edge-edge-gone",
                    t.DEAD_EXCHANGE_HEADER: t.REPLIES_EXCHANGE,
                    t.DEAD_ROUTING_KEY_HEADER: "edge-gone",
                    t.DEAD_AT_HEADER: "2026-01-01T00:00:00+00:00",
                },
            ),
            routing_key="edge-gone",
        )
    await until_dead_queue_holds(amqp_url, 1)

    monkeypatch.setenv("AMQP_URL", amqp_url)
    assert await deadletters.run(cli("replay", "reply-1")) == 1
    assert "error: the broker could not route reply-1; left in dtmf.dead" in capsys.readouterr().err
    assert ids(await list_dead_letters(amqp_url)) == ["reply-1"]

    async with watch(amqp_url, t.REPLIES_EXCHANGE, "edge-gone") as edge:
        result = await replay_dead_letters(amqp_url, ids=["reply-1"])
        reply = await next_of(edge)
    assert result.replayed == ("reply-1",)
    assert (reply.exchange, reply.routing_key) == (t.REPLIES_EXCHANGE, "edge-gone")
    assert await list_dead_letters(amqp_url) == []
