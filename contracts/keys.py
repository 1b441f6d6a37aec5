"""DTMF keys and the routing-key words that carry them.

`*` and `#` are wildcards in AMQP binding keys, so on the wire they travel as the
words `star` and `hash`; A-D travel lower-case.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, ValidationInfo, WithJsonSchema

from contracts.wire import on_wire

KEYS: tuple[str, ...] = (*"0123456789", "*", "#", "A", "B", "C", "D")

_WORD_OF: dict[str, str] = {**{k: k for k in "0123456789"}, "*": "star", "#": "hash"}
_WORD_OF.update({k: k.lower() for k in "ABCD"})
_KEY_OF: dict[str, str] = {word: key for key, word in _WORD_OF.items()}


class InvalidKey(ValueError):
    """Raised for anything that is not one of the sixteen DTMF keys."""


def normalize_key(raw: object) -> str:
    """Turn what a source reports (1, "1", "*", "star", "a") into the canonical key.

    Integers are accepted because VideoSDK reports digits as JSON numbers; 0 is a
    key like any other, never "no key".
    """
    if isinstance(raw, bool):
        raise InvalidKey(f"invalid DTMF key {raw!r}: a boolean is not a key")
    if isinstance(raw, int):
        if 0 <= raw <= 9:
            return str(raw)
        raise InvalidKey(f"invalid DTMF key {raw!r}: digits are 0-9")
    if not isinstance(raw, str):
        raise InvalidKey(f"invalid DTMF key {raw!r}: expected a string or a digit")
    text = raw.strip()
    if text.upper() in KEYS:
        return text.upper()
    if text.lower() in _KEY_OF:
        return _KEY_OF[text.lower()]
    raise InvalidKey(f"invalid DTMF key {raw!r}: expected one of {' '.join(KEYS)}")


def routing_word(key: str) -> str:
    """The routing-key word for a canonical key: `*` -> `star`, `#` -> `hash`, `A` -> `a`."""
    return _WORD_OF[normalize_key(key)]


def key_routing_key(key: str) -> str:
    """Routing key of a key press event, e.g. `dtmf.star`."""
    return f"dtmf.{routing_word(key)}"


def key_of_word(word: str) -> str:
    """Inverse of `routing_word`."""
    try:
        return _KEY_OF[word]
    except KeyError:
        raise InvalidKey(f"invalid routing word {word!r}") from None


def _wire_key(value: object, info: ValidationInfo) -> str:
    # A source may report 0 or `star` (see normalize_key); the wire carries the key itself.
    if on_wire(info) and (not isinstance(value, str) or value not in KEYS):
        raise InvalidKey(f"invalid DTMF key {value!r}: on the wire one of {' '.join(KEYS)}")
    return normalize_key(value)


Key = Annotated[
    str,
    BeforeValidator(_wire_key),
    WithJsonSchema({"type": "string", "enum": list(KEYS)}),
]
"""A DTMF key field: canonical on the wire, normalized when built in Python."""

KEYS_PATTERN = "^[0-9*#A-D]*$"
"""Keys in a row, as gathered digits travel."""
