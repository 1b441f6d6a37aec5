"""Message contracts shared by every dtmf-bus service: models, topology names, schemas."""

from contracts.events import (
    AnyEvent,
    CallEnded,
    CallStarted,
    Event,
    GatheredInput,
    KeyPress,
    parse_event,
)
from contracts.keys import KEYS, InvalidKey, key_routing_key, normalize_key, routing_word
from contracts.replies import (
    Action,
    Gather,
    Hangup,
    Reply,
    Say,
    SendDigits,
    SetInstructions,
    Transfer,
    parse_reply,
)
from contracts.version import SCHEMA_VERSION

__all__ = [
    "KEYS",
    "SCHEMA_VERSION",
    "Action",
    "AnyEvent",
    "CallEnded",
    "CallStarted",
    "Event",
    "Gather",
    "GatheredInput",
    "Hangup",
    "InvalidKey",
    "KeyPress",
    "Reply",
    "Say",
    "SendDigits",
    "SetInstructions",
    "Transfer",
    "key_routing_key",
    "normalize_key",
    "parse_event",
    "parse_reply",
    "routing_word",
]
