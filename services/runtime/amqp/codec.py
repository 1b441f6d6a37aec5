"""The one encoding of dtmf-bus messages on the wire: JSON, persistent, with their id, type
and schema version in the AMQP properties, so a consumer can route, dedupe and refuse a
message without parsing its body."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, HeadersType

from contracts import topology as t
from contracts.base import Message
from contracts.events import AnyEvent
from contracts.replies import Reply
from services.runtime import tracing


def to_message(message: AnyEvent | Reply) -> aio_pika.Message:
    headers: dict[str, object] = {"x-schema-version": message.schema_version}
    if tracing.tracer is not None:  # W3C traceparent: the trace follows the message
        if isinstance(message, Reply):
            tracing.inject_current(headers)  # the service's span around its handler
        else:
            tracing.inject_event(message.event_id, headers)  # the edge's span for the event
    return aio_pika.Message(
        body=message.model_dump_json().encode(),
        content_type=t.CONTENT_TYPE,
        message_id=message.event_id if not isinstance(message, Reply) else message.reply_id,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,  # type: ignore[arg-type]
    )


def to_control(message: Message) -> aio_pika.Message:
    """A control message (an announcement, a discovery request) for dtmf.control: JSON, not
    persistent, no id: it says what is true now, and nobody replays or dedupes it."""
    return aio_pika.Message(body=message.model_dump_json().encode(), content_type=t.CONTENT_TYPE)


def to_dead_letter(
    message: AbstractIncomingMessage, *, reason: str, service: str
) -> aio_pika.Message:
    """A copy of `message` for dtmf.dead, its headers saying why, who sent it there and
    where it was first published (see `dtmf-bus dead-letters`)."""
    headers = dict(message.headers or {})
    headers.update(
        {
            t.DEAD_REASON_HEADER: reason,
            t.DEAD_SERVICE_HEADER: service,
            t.DEAD_EXCHANGE_HEADER: message.exchange or "",
            t.DEAD_ROUTING_KEY_HEADER: message.routing_key or "",
            t.DEAD_AT_HEADER: datetime.now(UTC).isoformat(),
        }
    )
    return copy_of(message, headers=headers)


def copy_of(message: AbstractIncomingMessage, *, headers: HeadersType) -> aio_pika.Message:
    """`message` to publish again (dead-lettered, or replayed from dtmf.dead), persistent,
    with these headers. Without its expiration (a per-message TTL would only kill the copy)
    and its user_id (the broker checks that against the publishing connection's user)."""
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        type=message.type,
        app_id=message.app_id,
        timestamp=message.timestamp,
        priority=message.priority,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
