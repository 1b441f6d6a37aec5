"""How a message is read off the bus: stricter than building one in Python.

In Python the models fill in ids and times and normalize what a source reported (a key
sent as the number 0, `star`). A message read off the bus gets none of that: a receiver
never invents an id or a time for the sender, nor guesses what a spelling meant. What the
JSON Schemas describe is exactly this wire form, so a client in any language knows what
is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationInfo

# The validation context of everything parsed off the bus (parse_event, parse_reply, ...).
WIRE: Mapping[str, Any] = {"wire": True}

MEDIA_TYPE = "application/json"


def on_wire(info: ValidationInfo) -> bool:
    context = info.context
    return context is WIRE or (isinstance(context, Mapping) and bool(context.get("wire")))


def content_type_problem(content_type: str | None) -> str | None:
    """Why a message with this AMQP content type can't be read as JSON, or None if it can.

    Compared by media type, as RFC 9110 says: case-insensitive, parameters allowed
    (`application/json; charset=utf-8`). JSON is UTF-8 (RFC 8259), so the only charset
    refused is another one. A message without a content type is read as JSON: clients
    that leave the property out are common, and the body is validated anyway.
    """
    if not content_type or not content_type.strip():
        return None
    media_type, *parameters = content_type.split(";")
    if media_type.strip().lower() != MEDIA_TYPE:
        return f"wrong content type {content_type!r}: expected {MEDIA_TYPE}"
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return f"wrong charset in content type {content_type!r}: JSON is utf-8"
    return None
