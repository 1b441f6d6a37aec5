"""`components.messages`: every message of the bus, its headers, payload and example.

Channels and operations refer to these by their key here (`keyPress`, `reply`, ...).
"""

from __future__ import annotations

from typing import Any

from contracts import topology as t
from contracts.asyncapi.bindings import message_type
from contracts.asyncapi.examples import examples
from contracts.asyncapi.payloads import inline, schema_file
from contracts.version import SCHEMA_VERSION

# The messages the edge publishes on the events exchange.
EVENT_MESSAGES = ("keyPress", "callStarted", "callEnded", "gatheredInput")
EVENT_SCHEMA_FILE = "event.schema.json"
SCHEMA_VERSION_HEADER = "x-schema-version"


def components_messages() -> dict[str, Any]:
    example = examples()
    return {**_event_messages(example), **_service_messages(example)}


def _message(
    name: str,
    *,
    title: str,
    summary: str,
    payload: dict[str, Any],
    amqp_type: str | None = None,
    example: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    correlation: str | None = None,
) -> dict[str, Any]:
    """A Message Object; `correlation` is the payload field published as `message_id`."""
    message: dict[str, Any] = {
        "name": name,
        "title": title,
        "summary": summary,
        "contentType": t.CONTENT_TYPE,
    }
    if headers is not None:
        message["headers"] = headers
    message["payload"] = payload
    if correlation is not None:
        message["correlationId"] = {
            "description": "AMQP message_id; consumers are idempotent on it.",
            "location": f"$message.payload#/{correlation}",
        }
    if amqp_type is not None:
        message["bindings"] = message_type(amqp_type)
    if example is not None:
        message["examples"] = [_example(name, example, versioned=headers is not None)]
    return message


def _example(name: str, payload: dict[str, Any], *, versioned: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": f"{name}-example"}
    if versioned:
        entry["headers"] = {SCHEMA_VERSION_HEADER: SCHEMA_VERSION}
    entry["payload"] = payload
    return entry


def _event(
    name: str, definition: str, *, title: str, summary: str, example: dict[str, Any]
) -> dict[str, Any]:
    """An event of `event.schema.json` (its `$defs` entry `definition`): published typed,
    versioned, and with its event_id as `message_id`."""
    return _message(
        name,
        title=title,
        summary=summary,
        payload=schema_file(EVENT_SCHEMA_FILE, definition),
        amqp_type=name,
        example=example,
        headers=_versioned_headers(),
        correlation="event_id",
    )


def _versioned_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            SCHEMA_VERSION_HEADER: {
                "type": "string",
                "description": "The body's schema_version (major.minor), so a consumer can "
                "refuse another major without parsing the body.",
                "examples": [SCHEMA_VERSION],
            }
        },
    }


def _dead_letter_headers() -> dict[str, Any]:
    text = {"type": "string"}
    by_rabbitmq = {**text, "description": "Set by RabbitMQ."}
    return {
        "type": "object",
        "description": "A service that refuses a message sets the x-dtmf-* headers; a message "
        "the broker dead-letters (expired, delivery_limit, rejected) carries the standard "
        "x-death list and x-first-death-* headers instead.",
        "properties": {
            t.DEAD_REASON_HEADER: {**text, "description": "Why it can never be handled."},
            t.DEAD_SERVICE_HEADER: {**text, "description": "The service that refused it."},
            t.DEAD_EXCHANGE_HEADER: {**text, "description": "Where it was published."},
            t.DEAD_ROUTING_KEY_HEADER: {**text, "description": "Its routing key."},
            t.DEAD_AT_HEADER: {**text, "format": "date-time", "description": "When."},
            "x-death": {"type": "array", "description": "Set by RabbitMQ."},
            "x-first-death-reason": by_rabbitmq,
            "x-first-death-queue": by_rabbitmq,
            "x-first-death-exchange": by_rabbitmq,
        },
    }


def _event_messages(example: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "keyPress": _event(
            "key_press",
            "KeyPress",
            title="Key press",
            summary="One key the caller pressed, normalized. Routing key dtmf.<word>, or "
            "collect.<word> while a gather collects it (then `collecting` is set).",
            example=example["keyPress"],
        ),
        "callStarted": _event(
            "call_started",
            "CallStarted",
            title="Call started",
            summary="A call session began on an edge.",
            example=example["callStarted"],
        ),
        "callEnded": _event(
            "call_ended",
            "CallEnded",
            title="Call ended",
            summary="A call session ended; interactive services drop its pending presses.",
            example=example["callEnded"],
        ),
        "gatheredInput": _event(
            "gathered_input",
            "GatheredInput",
            title="Gathered input",
            summary="Digits a Gather reply action collected; a reply to it carries this "
            "event's id in `in_reply_to`.",
            example=example["gatheredInput"],
        ),
    }


def _service_messages(example: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What services publish: replies (versioned like events), control, dead letters."""
    return {
        "reply": _message(
            "reply",
            title="Reply",
            summary="Ordered actions for the call that sent the event `in_reply_to`.",
            payload=schema_file("reply.schema.json"),
            amqp_type="reply",
            example=example["reply"],
            headers=_versioned_headers(),
            correlation="reply_id",
        ),
        "announcement": _message(
            "service_announcement",
            title="Service announcement",
            summary="A service instance says what it serves (keys, inputs), again every "
            "interval, or that it is going down; the menu builds its prompt from these.",
            payload=schema_file("announcement.schema.json"),
            example=example["announcement"],
        ),
        "discover": _message(
            "discover",
            title="Discover",
            summary="Asks every service to announce itself now (a menu that just started).",
            payload=inline(
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "discover"},
                        "schema_version": {"type": "string", "default": SCHEMA_VERSION},
                    },
                }
            ),
            example=example["discover"],
        ),
        "deadLetter": _message(
            "dead_letter",
            title="Dead letter",
            summary="A message that can never be handled, with the reason in its headers. The "
            "body and properties are the original's, unchanged (it may be malformed: that may "
            "be why it is here).",
            payload=inline({"description": "The original body, any bytes."}),
            headers=_dead_letter_headers(),
        ),
    }
