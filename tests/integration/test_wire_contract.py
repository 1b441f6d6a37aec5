"""The wire contract against the real services (issue 14): refused at the door, once, with
a reason; accepted by media type."""

from __future__ import annotations

import asyncio
import contextlib
import json

from contracts import KeyPress
from contracts import topology as t
from contracts.base import utcnow
from tests.integration.conftest import System, publish_raw, tap


def press_body(**overrides: object) -> dict[str, object]:
    now = utcnow()
    event = KeyPress(
        call_id="c-wire",
        reply_to="edge-nobody",
        source="simulator",
        key="1",
        sequence=1,
        pressed_at=now,
        received_at=now,
    )
    body = json.loads(event.model_dump_json())
    body.update(overrides)
    return body


async def refused_once(system: System, body: dict[str, object]) -> list[str]:
    """Publish on dtmf.1 (sales and the call log take it); the reasons it was refused with."""
    raw = json.dumps(body).encode()
    async with tap(system.settings.amqp_url, t.DEAD_QUEUE) as dead:
        await publish_raw(system.settings.amqp_url, raw, routing_key="dtmf.1")
        letters = [await asyncio.wait_for(dead.get(), 10) for _ in range(2)]
        # Refused at the door, not retried: nothing more comes (no delivery_limit letter).
        with contextlib.suppress(TimeoutError):
            extra = await asyncio.wait_for(dead.get(), 2)
            raise AssertionError(f"dead-lettered again: {extra.headers}")
    assert sorted(str(m.headers[t.DEAD_SERVICE_HEADER]) for m in letters) == ["calllog", "sales"]
    assert all(letter.body == raw for letter in letters)
    return [str(letter.headers[t.DEAD_REASON_HEADER]) for letter in letters]


async def test_a_naive_timestamp_is_dead_lettered_once_with_its_reason(system: System) -> None:
    reasons = await refused_once(system, press_body(pressed_at="2026-01-01T00:00:00"))
    for reason in reasons:
        assert "pressed_at" in reason
        assert "has no UTC offset" in reason
    assert system.calllog.written == []


async def test_a_press_without_event_id_is_dead_lettered_with_its_reason(system: System) -> None:
    body = {k: v for k, v in press_body().items() if k != "event_id"}
    for reason in await refused_once(system, body):
        assert "missing required field(s): event_id" in reason


async def test_json_with_media_type_parameters_is_accepted(system: System) -> None:
    bodies = {
        content_type: press_body(sequence=n)
        for n, content_type in enumerate(
            ["application/json; charset=utf-8", "Application/JSON", None], start=1
        )
    }
    for content_type, body in bodies.items():
        await publish_raw(
            system.settings.amqp_url,
            json.dumps(body).encode(),
            routing_key="dtmf.1",
            content_type=content_type,
        )
    await system.calllog.contain({str(b["event_id"]) for b in bodies.values()}, timeout=10)
