"""The one encoding of dtmf-bus messages on the wire: JSON, persistent, with their id, type
and schema version in the AMQP properties, so a consumer can route, dedupe and refuse a
message without parsing its body."""

from __future__ import annotations

from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from contracts import topology as t
from contracts.events import AnyEvent
from contracts.replies import Reply


def to_message(message: AnyEvent | Reply) -> aio_pika.Message:
    return aio_pika.Message(
        body=message.model_dump_json().encode(),
        content_type=t.CONTENT_TYPE,
        message_id=message.event_id if not isinstance(message, Reply) else message.reply_id,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers={"x-schema-version": message.schema_version},
    )


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
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        message_id=message.message_id,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
