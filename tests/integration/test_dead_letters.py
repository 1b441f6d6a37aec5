"""Bad input is dead-lettered with its reason, and nothing else is lost or blocked."""

from __future__ import annotations

import asyncio
import json

import pytest

from contracts import KeyPress
from contracts import topology as t
from contracts.replies import Reply, Say
from services.edge.simulator import scripted_call
from tests.integration.conftest import System, publish_raw, tap


def valid_press(**overrides: object) -> dict[str, object]:
    event = KeyPress(
        call_id="c-x",
        reply_to="edge-nobody",
        source="simulator",
        key="1",
        sequence=1,
        pressed_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
    )
    body = json.loads(event.model_dump_json())
    body.update(overrides)
    return body


BAD = [
    ("not json", b"{not json", t.CONTENT_TYPE, "invalid message"),
    (
        "wrong schema version",
        json.dumps(valid_press(schema_version="9.0")).encode(),
        t.CONTENT_TYPE,
        "unsupported schema version",
    ),
    ("unknown key", json.dumps(valid_press(key="Z")).encode(), t.CONTENT_TYPE, "invalid DTMF key"),
    (
        "missing reply address",
        json.dumps({k: v for k, v in valid_press().items() if k != "reply_to"}).encode(),
        t.CONTENT_TYPE,
        "reply_to",
    ),
    ("wrong content type", json.dumps(valid_press()).encode(), "text/plain", "wrong content type"),
    (
        "oversize",
        json.dumps(valid_press(source_payload={"x": "y" * 70_000})).encode(),
        t.CONTENT_TYPE,
        "oversize body",
    ),
]


@pytest.mark.parametrize(("label", "body", "content_type", "reason"), BAD, ids=[b[0] for b in BAD])
async def test_malformed_press_is_dead_lettered_with_its_reason(
    system: System, label: str, body: bytes, content_type: str, reason: str
) -> None:
    edge = await system.start_edge("edge-dl")
    async with tap(system.settings.amqp_url, t.DEAD_QUEUE) as dead:
        await publish_raw(
            system.settings.amqp_url, body, routing_key="dtmf.1", content_type=content_type
        )
        # Sales and the call log both consume dtmf.1: each dead-letters its own copy.
        letters = [await asyncio.wait_for(dead.get(), 10) for _ in range(2)]
    services = sorted(str(m.headers[t.DEAD_SERVICE_HEADER]) for m in letters)
    assert services == ["calllog", "sales"]
    for letter in letters:
        assert reason in str(letter.headers[t.DEAD_REASON_HEADER])
        assert letter.headers[t.DEAD_ROUTING_KEY_HEADER] == "dtmf.1"
        assert letter.headers[t.DEAD_EXCHANGE_HEADER] == t.EVENTS_EXCHANGE
        assert letter.body == body

    # ...and the services keep answering.
    result = await scripted_call(edge, ["1", "5"], reply_timeout=5, out=lambda line: None)
    assert result.unanswered == []


async def test_malformed_reply_is_dead_lettered_at_the_edge(system: System) -> None:
    edge = await system.start_edge("edge-r")
    reply = json.loads(
        Reply(call_id="c", in_reply_to="e", service="x", actions=[Say(text="hi")]).model_dump_json()
    )
    reply["actions"] = [{"action": "dance"}]
    async with tap(system.settings.amqp_url, t.DEAD_QUEUE) as dead:
        await publish_raw(
            system.settings.amqp_url,
            json.dumps(reply).encode(),
            exchange=t.REPLIES_EXCHANGE,
            routing_key="edge-r",
        )
        letter = await asyncio.wait_for(dead.get(), 10)
    assert "dance" in str(letter.headers[t.DEAD_REASON_HEADER])
    assert letter.headers[t.DEAD_SERVICE_HEADER] == "edge-edge-r"
    result = await scripted_call(edge, ["2"], reply_timeout=5, out=lambda line: None)
    assert result.session.said == ["Routing you to Support..."]
