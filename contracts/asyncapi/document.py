"""The whole AsyncAPI document, its committed text, and writing it to `contracts/asyncapi.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contracts import topology as t
from contracts.asyncapi.channels import channels
from contracts.asyncapi.messages import components_messages
from contracts.asyncapi.operations import operations
from contracts.version import SCHEMA_VERSION

# Next to contracts/schemas/, which the payloads' `$ref`s name relative to the document.
DOCUMENT_PATH = Path(__file__).parent.parent / "asyncapi.json"


def document() -> dict[str, Any]:
    """The AsyncAPI document as a dict."""
    return {
        "asyncapi": "3.0.0",
        "id": "urn:dtmf-bus",
        "info": _info(),
        "defaultContentType": t.CONTENT_TYPE,
        "servers": _servers(),
        "channels": channels(),
        "operations": operations(),
        "components": {"messages": components_messages()},
    }


def generate() -> str:
    """The document's text, exactly as committed."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def write(path: Path = DOCUMENT_PATH) -> Path:
    path.write_text(generate(), encoding="utf-8")
    return path


def _info() -> dict[str, Any]:
    return {
        "title": "dtmf-bus",
        "version": SCHEMA_VERSION,
        "description": "Phone key presses (DTMF) as versioned events on RabbitMQ, "
        "answered by consumer services inside the call. Generated from `contracts/` "
        "(`make schemas`); the payload schemas are the committed JSON Schemas in "
        "`contracts/schemas/`. `info.version` is the wire schema version: consumers "
        "refuse another major. Bodies are JSON (`application/json`), published "
        "persistent with `message_id` (event_id or reply_id), `type` and the "
        "`x-schema-version` header.",
        "license": {"name": "Proprietary"},
        # One tag per application; operations name theirs.
        "tags": [
            {"name": "edge", "description": "The media edge that holds the calls."},
            {"name": "service", "description": "Any consumer service."},
            {"name": "calllog", "description": "The call log service."},
            {"name": "menu", "description": "The fallback for unhandled keys."},
            {"name": "dead-letters", "description": "The dead-letter tool."},
        ],
    }


def _servers() -> dict[str, Any]:
    return {
        "broker": {
            "host": "localhost:5672",
            "protocol": "amqp",
            "protocolVersion": "0.9.1",
            "description": "RabbitMQ (AMQP_URL; in Kubernetes the cluster's Service, "
            "any node). Exchanges are declared by every service at start with the "
            "arguments shown here, and by the edge (all but the dead-letter queue).",
        }
    }
