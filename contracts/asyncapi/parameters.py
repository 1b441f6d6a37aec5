"""Channel parameters: the `{...}` parts of channel addresses."""

from __future__ import annotations

from typing import Any

from contracts.keys import KEYS, routing_word
from contracts.replies import INPUT_NAME_PATTERN

KEY_PARAMETER: dict[str, Any] = {
    "description": "The key's routing word: 0-9, `star` (*), `hash` (#), a-d (A-D). `*` and "
    "`#` are AMQP wildcards, so they never appear literally in a routing key.",
    "enum": [routing_word(key) for key in KEYS],
}
NAME_PARAMETER: dict[str, Any] = {
    "description": f"The name the Gather reply action gave the input ({INPUT_NAME_PATTERN}).",
    "examples": ["account"],
}
EDGE_PARAMETER: dict[str, Any] = {
    "description": "The edge instance id: the `reply_to` of the event answered.",
    "examples": ["edge-7f3a"],
}
SERVICE_PARAMETER: dict[str, Any] = {
    "description": "The consumer service's name (sales, support, menu, billing, ...).",
    "examples": ["sales"],
}
