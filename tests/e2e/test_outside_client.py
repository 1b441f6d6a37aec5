"""The contract holds for an outside client: raw AMQP and the committed JSON Schemas only.

This module plays a team joining the bus from another language. It imports nothing from
`services/` or `contracts/`: it reads `contracts/schemas/*.json` and `contracts/asyncapi.json`
as files, speaks AMQP through aio-pika, and starts the real services as a user would
(`python -m services.sales`, `support`, `menu`, `calllog`, each its own process) in a vhost of
its own. Everything it relies on is quoted from the README ("Messages", "The wire contract",
"Joining from another language", "What is guaranteed").

What it proves, as an edge written from the documents alone:

- declaring the exchanges as documented is accepted by the services that start after it
  (a mismatch would be PRECONDITION_FAILED), and the AsyncAPI bindings say the same;
- a reply queue declared as documented, bound on `dtmf.replies` by the edge id, gets the
  replies: key 1 by sales, 2 by support, an unserved key (7) by the menu, each reply valid
  against `reply.schema.json` (Draft 2020-12 + FormatChecker), answering the right event id,
  call and sequence, in order per call and service;
- every message published is first checked against `event.schema.json`: the schema-valid ones
  (content type `application/json; charset=utf-8`, persistent, confirmed) are accepted, and
  the schema-invalid ones (a naive timestamp, no `event_id`, key `"star"`) are refused at the
  door: each lands in `dtmf.dead` exactly once per service that received it, with an
  `x-dtmf-dead-reason` naming the problem, and is never answered;
- a press sent twice with the same `event_id` is answered once and logged once;
- two calls on two edges at once get their own replies only;
- a press an hour old (both timestamps, or only `pressed_at`) is not answered: it is
  dead-lettered as expired, and the call log still records it.

"No reply" is never judged by sleeping: a later press of the same call to the same service
(a marker) is answered only after the earlier one was settled, so once the marker's reply is
in, a reply to the earlier press can no longer come.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from jsonschema import Draft202012Validator, FormatChecker

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "contracts" / "schemas"
ASYNCAPI = ROOT / "contracts" / "asyncapi.json"

WAIT_S = 30.0  # per expected message: a 2-core machine shared with other work
CONTENT_TYPE = "application/json; charset=utf-8"

# "Joining from another language": the exchanges, declared the same way by everyone.
EVENTS, ROUTES, UNROUTED, REPLIES, DEAD = (
    "dtmf.events",
    "dtmf.routes",
    "dtmf.unrouted",
    "dtmf.replies",
    "dtmf.dead",
)
CONTROL = "dtmf.control"
EXCHANGES: dict[str, tuple[aio_pika.ExchangeType, dict[str, Any]]] = {
    EVENTS: (aio_pika.ExchangeType.TOPIC, {}),
    UNROUTED: (aio_pika.ExchangeType.FANOUT, {}),
    ROUTES: (aio_pika.ExchangeType.TOPIC, {"alternate-exchange": UNROUTED}),
    REPLIES: (aio_pika.ExchangeType.DIRECT, {}),
    DEAD: (aio_pika.ExchangeType.FANOUT, {}),
}
# "Your reply queue": exclusive, non-durable, x-queue-type classic, bound by the edge id.
REPLY_QUEUE_ARGUMENTS = {"x-queue-type": "classic"}

DEAD_REASON = "x-dtmf-dead-reason"
DEAD_SERVICE = "x-dtmf-service"
DEAD_EXCHANGE = "x-dtmf-original-exchange"
DEAD_ROUTING_KEY = "x-dtmf-original-routing-key"

SALES_SAYS = "Routing you to Sales..."
SUPPORT_SAYS = "Routing you to Support..."


def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


EVENT_SCHEMA = _validator("event")
REPLY_SCHEMA = _validator("reply")
ANNOUNCEMENT_SCHEMA = _validator("announcement")


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now() -> str:
    return rfc3339(datetime.now(UTC))


def schema_errors(message: dict[str, Any]) -> list[str]:
    return [error.message for error in EVENT_SCHEMA.iter_errors(message)]


def text_header(headers: dict[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode()
    return None if value is None else str(value)


# ------------------------------------------------------------------------------------------
# Collecting what arrives, and waiting for it with a bound


@dataclass
class Inbox:
    """Every message a queue delivered, and a way to wait until some condition holds."""

    messages: list[AbstractIncomingMessage] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def put(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    async def until(
        self, done: Callable[[list[AbstractIncomingMessage]], bool], *, what: str
    ) -> None:
        try:
            async with asyncio.timeout(WAIT_S), self._changed:
                await self._changed.wait_for(lambda: done(self.messages))
        except TimeoutError:
            got = [(m.routing_key, m.headers, m.body[:300]) for m in self.messages]
            raise AssertionError(f"not within {WAIT_S}s: {what}; got {got}") from None


async def consume_into(queue: aio_pika.abc.AbstractQueue) -> Inbox:
    inbox = Inbox()
    await queue.consume(inbox.put)
    return inbox


# ------------------------------------------------------------------------------------------
# The system, started as a user starts it


@dataclass
class Services:
    procs: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def output(self) -> str:
        return "\n".join(f"--- {n}:\n{p.read_text()[-3000:]}" for n, p in self.logs.items())


async def start(services: Services, name: str, env: dict[str, str], tmp: Path) -> None:
    log = tmp / f"{name}.log"
    services.logs[name] = log
    with log.open("wb") as out:
        services.procs[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{name}", cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def stop_all(services: Services) -> None:
    for proc in services.procs.values():
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    for proc in services.procs.values():
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def wait_consumed(connection: AbstractConnection, queue_name: str) -> None:
    """The call log announces nothing: poll (bounded) until its queue has a consumer."""
    async with asyncio.timeout(60):
        while True:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(queue_name, passive=True)
                if queue.declaration_result.consumer_count:
                    return
            except aio_pika.exceptions.ChannelClosed:
                pass  # not declared yet; a failed passive declare closes the channel
            finally:
                if not channel.is_closed:
                    await channel.close()
            await asyncio.sleep(0.2)


# ------------------------------------------------------------------------------------------
# The outside client: an edge written from the README


async def declare_exchanges(channel: AbstractChannel) -> None:
    declared = {}
    for name, (kind, arguments) in EXCHANGES.items():
        declared[name] = await channel.declare_exchange(
            name, kind, durable=True, arguments=arguments
        )
    await declared[ROUTES].bind(declared[EVENTS], routing_key="dtmf.#")


@dataclass
class Edge:
    """One outside edge: its connection, its reply queue, and what it published."""

    edge_id: str
    channel: AbstractChannel
    replies: Inbox
    events: aio_pika.abc.AbstractExchange
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, message: dict[str, Any], routing_key: str) -> bytes:
        body = json.dumps(message).encode()
        await self.events.publish(
            aio_pika.Message(
                body=body,
                content_type=CONTENT_TYPE,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )  # confirmed: the channel has publisher confirms on
        self.sent.append(message)
        return body

    async def publish_valid(self, message: dict[str, Any], routing_key: str) -> bytes:
        assert schema_errors(message) == [], (message, schema_errors(message))
        return await self.publish(message, routing_key)

    async def publish_invalid(self, message: dict[str, Any], routing_key: str) -> bytes:
        assert schema_errors(message), f"meant to be schema-invalid: {message}"
        return await self.publish(message, routing_key)

    def replies_to(self, event_id: str) -> list[dict[str, Any]]:
        bodies = (json.loads(m.body) for m in self.replies.messages)
        return [b for b in bodies if b.get("in_reply_to") == event_id]

    async def reply_to(self, press: dict[str, Any]) -> dict[str, Any]:
        event_id = press["event_id"]
        await self.replies.until(
            lambda _: bool(self.replies_to(event_id)), what=f"a reply to {press}"
        )
        return self.replies_to(event_id)[0]


@contextlib.asynccontextmanager
async def outside_edge(amqp_url: str, edge_id: str) -> AsyncIterator[Edge]:
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_exchanges(channel)
        queue = await channel.declare_queue(
            f"dtmf.edge.{edge_id}",
            durable=False,
            exclusive=True,
            auto_delete=False,
            arguments=REPLY_QUEUE_ARGUMENTS,
        )
        await queue.bind(REPLIES, routing_key=edge_id)
        replies = await consume_into(queue)
        yield Edge(edge_id, channel, replies, await channel.get_exchange(EVENTS))


@dataclass
class Call:
    edge: Edge
    call_id: str = field(default_factory=lambda: f"outside-call-{uuid.uuid4().hex[:8]}")
    sequence: int = 0

    def base(self, kind: str) -> dict[str, Any]:
        return {
            "type": kind,
            "schema_version": "1.0",
            "event_id": str(uuid.uuid4()),
            "call_id": self.call_id,
            "reply_to": self.edge.edge_id,
            "source": "outside-client",
        }

    def started(self) -> dict[str, Any]:
        return {**self.base("call_started"), "started_at": now(), "caller": "+15550100"}

    def ended(self) -> dict[str, Any]:
        return {**self.base("call_ended"), "ended_at": now(), "reason": "hangup"}

    def press(self, key: str, **fields: Any) -> dict[str, Any]:
        self.sequence += 1
        at = now()
        press = {
            **self.base("key_press"),
            "key": key,
            "sequence": self.sequence,
            "pressed_at": at,
            "received_at": at,
            "duration_ms": 120,
        }
        press.update(fields)
        return {k: v for k, v in press.items() if v is not None}

    async def press_and_answer(self, key: str, word: str) -> tuple[dict[str, Any], dict]:
        press = self.press(key)
        await self.edge.publish_valid(press, f"dtmf.{word}")
        return press, await self.edge.reply_to(press)


def check_reply(
    message: AbstractIncomingMessage, press: dict[str, Any], service: str, edge_id: str
) -> None:
    """A reply as "Messages" and the reply schema describe it, for this press."""
    body = json.loads(message.body)
    errors = [e.message for e in REPLY_SCHEMA.iter_errors(body)]
    assert errors == [], (body, errors)
    assert message.routing_key == edge_id
    assert (message.content_type or "").split(";")[0].strip().lower() == "application/json"
    assert body["in_reply_to"] == press["event_id"]
    assert body["call_id"] == press["call_id"]
    assert body["sequence"] == press["sequence"]
    assert body["service"] == service, body
    actions = body["actions"]
    said = [a["text"] for a in actions if a["action"] == "say"]
    if service == "sales":
        assert said == [SALES_SAYS]
        assert any("Sales Representative" in a.get("instructions", "") for a in actions)
    elif service == "support":
        assert said == [SUPPORT_SAYS]
        assert any("Support Specialist" in a.get("instructions", "") for a in actions)
    else:
        [prompt] = said
        # The menu names the keys served right now (learned from the announcements).
        assert prompt.startswith("Invalid input."), prompt
        assert "1 for Sales" in prompt and "2 for Support" in prompt, prompt


def reply_message(edge: Edge, event_id: str) -> AbstractIncomingMessage:
    [message] = [m for m in edge.replies.messages if json.loads(m.body)["in_reply_to"] == event_id]
    return message


def dead_from(dead: Inbox, body: bytes) -> dict[str, list[AbstractIncomingMessage]]:
    """The dead letters of one published body, by the service that refused it."""
    found: dict[str, list[AbstractIncomingMessage]] = {}
    for message in dead.messages:
        if message.body == body:
            service = text_header(message.headers, DEAD_SERVICE) or "(broker)"
            found.setdefault(service, []).append(message)
    return found


def services_of(dead: Inbox, body: bytes) -> set[str]:
    return set(dead_from(dead, body))


# ------------------------------------------------------------------------------------------


def test_asyncapi_bindings_say_what_the_readme_says() -> None:
    """The exchange and reply-queue declarations this client uses, in the AsyncAPI document."""
    document = json.loads(ASYNCAPI.read_text())
    exchanges: dict[str, dict[str, Any]] = {}
    queues: dict[str, dict[str, Any]] = {}
    for channel in document["channels"].values():
        amqp = channel.get("bindings", {}).get("amqp", {})
        if amqp.get("is") == "routingKey":
            exchanges.setdefault(amqp["exchange"]["name"], amqp)
        elif amqp.get("is") == "queue" and "name" in amqp["queue"]:
            queues[amqp["queue"]["name"]] = amqp
    for name, (kind, arguments) in EXCHANGES.items():
        binding = exchanges[name]
        assert binding["exchange"]["type"] == kind.value, name
        assert binding["exchange"]["durable"] is True, name
        assert binding.get("x-exchange-arguments", {}) == arguments, name
    assert {"exchange": EVENTS, "routingKey": "dtmf.#"} in exchanges[ROUTES]["x-exchange-bindings"]
    reply_queue = queues["dtmf.edge.{edgeId}"]
    assert reply_queue["queue"]["durable"] is False
    assert reply_queue["queue"]["exclusive"] is True
    assert reply_queue["x-queue-arguments"] == REPLY_QUEUE_ARGUMENTS
    assert reply_queue["x-queue-bindings"] == [{"exchange": REPLIES, "routingKey": "{edgeId}"}]


def test_this_clients_validator_asserts_formats() -> None:
    """ "Enable format assertion in yours": 02-30 passes the pattern, not the FormatChecker."""
    press = Call(Edge("e", None, Inbox(), None)).press("1")  # type: ignore[arg-type]
    assert schema_errors(press) == []
    assert schema_errors({**press, "pressed_at": "2026-02-30T12:00:00Z"})


@pytest.mark.e2e
@pytest.mark.timeout(300)
async def test_an_outside_client_on_raw_amqp(amqp_url: str, tmp_path: Path) -> None:
    calllog_path = tmp_path / "calllog.jsonl"
    env = {
        **os.environ,
        "AMQP_URL": amqp_url,
        "DTMF_CALLLOG_PATH": str(calllog_path),
        "DTMF_HTTP_PORT": "-1",
        "DTMF_SPOOL_DIR": str(tmp_path / "spool"),
        "DTMF_SHUTDOWN_TIMEOUT_S": "5",
        # Fresh presses must not expire on a busy shared machine; an hour-old one still does.
        "DTMF_PRESS_TTL_MS": "20000",
    }
    services = Services()
    suffix = uuid.uuid4().hex[:8]
    try:
        async with (
            outside_edge(amqp_url, f"outside-a-{suffix}") as edge_a,
            outside_edge(amqp_url, f"outside-b-{suffix}") as edge_b,
        ):
            # Observers, bound before anything is published: the control plane, and the
            # dead letters ("bind your own queue to the dead-letter exchange").
            watch = edge_a.channel
            control_exchange = await watch.declare_exchange(
                CONTROL, aio_pika.ExchangeType.TOPIC, durable=True
            )
            control_queue = await watch.declare_queue(exclusive=True)
            await control_queue.bind(control_exchange, routing_key="service.*")
            control = await consume_into(control_queue)
            dead_queue = await watch.declare_queue(exclusive=True)
            await dead_queue.bind(DEAD)
            dead = await consume_into(dead_queue)

            refused = await run_the_calls(
                services, env, tmp_path, amqp_url, control, dead, edge_a, edge_b
            )
            await check_the_call_log(calllog_path, edge_a, edge_b)
            # The call log has now handled everything after the refused presses too:
            # still exactly one dead letter per refused press and service.
            for body, expected in refused.items():
                by_service = dead_from(dead, body)
                assert {s: len(ms) for s, ms in by_service.items()} == dict.fromkeys(expected, 1)
    except BaseException:
        await stop_all(services)
        print(services.output())
        raise
    await stop_all(services)
    for name, proc in services.procs.items():
        assert proc.returncode == 0, (name, proc.returncode, services.output())


async def run_the_calls(
    services: Services,
    env: dict[str, str],
    tmp_path: Path,
    amqp_url: str,
    control: Inbox,
    dead: Inbox,
    edge_a: Edge,
    edge_b: Edge,
) -> dict[bytes, set[str]]:
    """The calls; returns each refused body with the services that must dead-letter it."""

    # ---- The system starts after the edges declared the exchanges: same arguments, or
    # the services would fail with PRECONDITION_FAILED. Sales and support say they are up
    # ("service.announce ... on start"); the menu asks ("service.discover") and hears them.
    def announced(name: str, after: int = 0) -> Callable[[list[AbstractIncomingMessage]], bool]:
        def done(messages: list[AbstractIncomingMessage]) -> bool:
            for m in messages[after:]:
                if m.routing_key == "service.announce":
                    body = json.loads(m.body)
                    assert list(ANNOUNCEMENT_SCHEMA.iter_errors(body)) == [], body
                    if body["service"] == name and body.get("status", "up") == "up":
                        return True
            return False

        return done

    for name in ("sales", "support"):
        await start(services, name, env, tmp_path)
    for name in ("sales", "support"):
        await control.until(announced(name), what=f"{name} announces itself")
    await start(services, "menu", env, tmp_path)
    await start(services, "calllog", env, tmp_path)
    await control.until(
        lambda ms: any(m.routing_key == "service.discover" for m in ms), what="menu discovers"
    )
    asked = next(i for i, m in enumerate(control.messages) if m.routing_key == "service.discover")
    for name in ("sales", "support"):
        await control.until(announced(name, asked), what=f"{name} answers the menu")
    async with await aio_pika.connect(amqp_url) as probe:
        await wait_consumed(probe, "dtmf.svc.calllog")

    call_a, call_b = Call(edge_a), Call(edge_b)
    started = [call_a.started(), call_b.started()]
    await edge_a.publish_valid(started[0], "call.started")
    await edge_b.publish_valid(started[1], "call.started")

    # ---- Two calls at once, on two edges: 1 (sales), 2 (support), 7 (menu), interleaved.
    async def script(call: Call, keys: Iterable[str]) -> list[tuple[dict[str, Any], str]]:
        served = {"1": "sales", "2": "support"}
        answered = []
        for key in keys:
            press, _ = await call.press_and_answer(key, key)
            answered.append((press, served.get(key, "menu")))
        return answered

    answered_a, answered_b = await asyncio.gather(script(call_a, "127"), script(call_b, "271"))
    for edge, answered in ((edge_a, answered_a), (edge_b, answered_b)):
        for press, service in answered:
            check_reply(reply_message(edge, press["event_id"]), press, service, edge.edge_id)
    # Each edge got its own call's replies and nothing else.
    for edge, call in ((edge_a, call_a), (edge_b, call_b)):
        assert {json.loads(m.body)["call_id"] for m in edge.replies.messages} == {call.call_id}

    # ---- A duplicate (same event_id, sent twice) is answered once: the marker after it,
    # to the same service on the same call, is answered only after the duplicate settled.
    duplicate = call_a.press("1")
    await edge_a.publish_valid(duplicate, "dtmf.1")
    await edge_a.publish_valid(duplicate, "dtmf.1")
    marker, _ = await call_a.press_and_answer("1", "1")
    assert len(edge_a.replies_to(duplicate["event_id"])) == 1
    check_reply(reply_message(edge_a, duplicate["event_id"]), duplicate, "sales", edge_a.edge_id)

    # ---- The defects of issue 14, each schema-invalid, each refused at the door.
    naive = call_a.press("1", pressed_at=datetime.now(UTC).replace(tzinfo=None).isoformat())
    no_id = call_a.press("1")
    del no_id["event_id"]
    star = call_a.press("star")
    refused = {
        "naive": (await edge_a.publish_invalid(naive, "dtmf.1"), naive, "dtmf.1"),
        "no_id": (await edge_a.publish_invalid(no_id, "dtmf.1"), no_id, "dtmf.1"),
        "star": (await edge_a.publish_invalid(star, "dtmf.star"), star, "dtmf.star"),
    }
    # ---- Presses an hour old: schema-valid, but no longer worth answering. Age counts
    # from the earlier of pressed_at and received_at ("What is guaranteed").
    hour_ago = rfc3339(datetime.now(UTC) - timedelta(hours=1))
    stale = call_a.press("1", pressed_at=hour_ago, received_at=hour_ago)
    stale_press_only = call_a.press("1", pressed_at=hour_ago)
    stale_bodies = [
        await edge_a.publish_valid(stale, "dtmf.1"),
        await edge_a.publish_valid(stale_press_only, "dtmf.1"),
    ]
    # Markers: a later press of the same call to each service that got a refused one.
    after_sales, _ = await call_a.press_and_answer("1", "1")
    after_menu, _ = await call_a.press_and_answer("9", "9")
    check_reply(reply_message(edge_a, after_menu["event_id"]), after_menu, "menu", edge_a.edge_id)

    expected_services = {"naive": {"sales", "calllog"}, "no_id": {"sales", "calllog"}}
    expected_services["star"] = {"menu", "calllog"}
    for name, (body, _, _) in refused.items():
        await dead.until(
            lambda _, b=body, n=name: services_of(dead, b) >= expected_services[n],
            what=f"the {name} press dead-lettered by {expected_services[name]}",
        )
    for body in stale_bodies:
        await dead.until(
            lambda _, b=body: "sales" in services_of(dead, b) or "(broker)" in services_of(dead, b),
            what="a stale press expired",
        )

    # Each refused once per service that received it, with its reason; never answered.
    for name, (body, message, routing_key) in refused.items():
        by_service = dead_from(dead, body)
        assert set(by_service) == expected_services[name], (name, by_service)
        for service, letters in by_service.items():
            assert len(letters) == 1, (name, service, [m.headers for m in letters])
            headers = letters[0].headers
            reason = text_header(headers, DEAD_REASON) or ""
            assert text_header(headers, DEAD_EXCHANGE) == EVENTS
            assert text_header(headers, DEAD_ROUTING_KEY) == routing_key
            # The reasons the README quotes ("The wire contract"), or at least the field.
            if name == "naive":
                assert "pressed_at" in reason and "has no UTC offset" in reason, reason
            elif name == "no_id":
                assert "missing required field(s): event_id" in reason, reason
            else:
                assert "key" in reason and "star" in reason, reason
        if "event_id" in message:
            assert edge_a.replies_to(message["event_id"]) == []
    sequences_answered = [json.loads(m.body)["sequence"] for m in edge_a.replies.messages]
    assert no_id["sequence"] not in sequences_answered

    for body, press in zip(stale_bodies, (stale, stale_press_only), strict=True):
        [letter] = [m for ms in dead_from(dead, body).values() for m in ms]
        reason = text_header(letter.headers, DEAD_REASON)
        first_death = text_header(letter.headers, "x-first-death-reason")
        assert "expired" in (reason or first_death or ""), letter.headers
        assert edge_a.replies_to(press["event_id"]) == []

    # ---- Order per call: each service answered call A's presses in the order pressed.
    per_service: dict[str, list[int]] = {}
    for m in edge_a.replies.messages:
        body = json.loads(m.body)
        per_service.setdefault(body["service"], []).append(body["sequence"])
    for service, sequences in per_service.items():
        assert sequences == sorted(sequences), (service, sequences)
    assert per_service["sales"] == [
        1,
        duplicate["sequence"],
        marker["sequence"],
        after_sales["sequence"],
    ]

    # Lifecycle events are for the call log: no service answers them.
    for edge, event in ((edge_a, started[0]), (edge_b, started[1])):
        assert edge.replies_to(event["event_id"]) == []

    # ---- The calls end.
    await edge_a.publish_valid(call_a.ended(), "call.ended")
    await edge_b.publish_valid(call_b.ended(), "call.ended")
    return {body: expected_services[name] for name, (body, _, _) in refused.items()}


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines()]


async def check_the_call_log(path: Path, edge_a: Edge, edge_b: Edge) -> None:
    """The call log (JSON lines at DTMF_CALLLOG_PATH) has every accepted event once.

    It acks and writes asynchronously and says nothing on the bus: poll the file, bounded.
    """
    accepted = [m for edge in (edge_a, edge_b) for m in edge.sent if not schema_errors(m)]
    wanted = {m["event_id"] for m in accepted}
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(WAIT_S):
            while not wanted <= {line.get("event_id") for line in lines}:
                await asyncio.sleep(0.1)
                lines = read_json_lines(path)
    except TimeoutError:
        missing = wanted - {line.get("event_id") for line in lines}
        raise AssertionError(f"call log lacks {missing} after {WAIT_S}s") from None
    logged = [line["event_id"] for line in lines]
    # The duplicate sent twice is logged once; the refused ones not at all.
    assert sorted(logged) == sorted(wanted), (len(logged), len(wanted))
    assert {(line["call_id"], line["type"]) for line in lines} >= {
        (edge_a.sent[0]["call_id"], "call_ended"),
        (edge_b.sent[0]["call_id"], "call_ended"),
    }
