"""The one encoding of dtmf-bus messages on the wire: JSON, persistent, with their id, type
and schema version in the AMQP properties, so a consumer can route, dedupe and refuse a
message without parsing its body."""

from __future__ import annotations

import aio_pika

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
