"""``DTMF_EVENT`` PubSub messages -> key presses on the Edge.

`press_from_message` turns one message into the arguments of `Edge.press`; `DTMFForwarder`
does that per call and drops malformed messages with a warning.

A real ``DTMF_EVENT`` message, as VideoSDK documents it::

    {"message": "Dtmf event received", "senderId": "otb9vc4s",
     "timestamp": "2025-09-08T12:02:14.726Z", "topic": "DTMF_EVENT",
     "senderName": "Participant", "id": "32gwnzkt5we",
     "payload": {"number": 1, "timestamp": "1757332934706"}}

Digits arrive as JSON numbers, ``*`` and ``#`` as strings, ``payload.timestamp`` is epoch
milliseconds as a string.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.keys import InvalidKey, normalize_key
from services.edge.calls import Call
from services.edge.edge import Edge, EdgeBusy

log = logging.getLogger(__name__)

DTMF_TOPIC = "DTMF_EVENT"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MalformedDTMFMessage(ValueError):
    """A PubSub message on the DTMF topic that does not describe one key press."""


@dataclass(frozen=True, slots=True)
class DTMFPress:
    """The arguments of `Edge.press` for one DTMF PubSub message."""

    key: str
    pressed_at: datetime | None
    source_message_id: str | None
    participant_id: str | None
    source_payload: dict[str, Any]


def press_from_message(message: object) -> DTMFPress:
    """Read one ``DTMF_EVENT`` message; raises `MalformedDTMFMessage` saying why it can't.

    The press time is ``payload.timestamp`` (epoch ms, stamped where the tone was detected);
    the top-level ISO ``timestamp`` is when PubSub sent it, so it is only the fallback.
    """
    if not isinstance(message, Mapping):
        raise MalformedDTMFMessage(f"not an object but {type(message).__name__}")
    payload = message.get("payload")
    if not isinstance(payload, Mapping):
        raise MalformedDTMFMessage("no payload object")
    number = payload.get("number")
    if number is None:
        raise MalformedDTMFMessage("payload has no number")
    try:
        key = normalize_key(number)
    except InvalidKey as error:
        raise MalformedDTMFMessage(str(error)) from None
    return DTMFPress(
        key=key,
        pressed_at=_epoch_ms(payload.get("timestamp")) or _iso(message.get("timestamp")),
        source_message_id=_text(message.get("id")),
        participant_id=_text(message.get("senderId")),
        source_payload=dict(message),
    )


def _epoch_ms(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    millis: float
    if isinstance(value, int | float):
        millis = value
    elif isinstance(value, str):
        try:
            millis = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except (OverflowError, ValueError):  # nan, inf, or outside datetime's range
        return None


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # A timestamp without an offset is taken as UTC, which is what VideoSDK sends.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    return None


class DTMFForwarder:
    """Publishes the DTMF messages of one call through the Edge.

    Built before the call exists (the handler must be handed to `AgentSession`, whose wrapper
    is what the call is started with); `call` is set once `Edge.start_call` returned.
    """

    def __init__(
        self, edge: Edge, call: Call | None = None, *, admit: Callable[[str], bool] | None = None
    ) -> None:
        self._edge = edge
        self.call = call
        # The key source policy (services/edge/inband/pairing.py): False drops the press.
        self._admit = admit

    async def __call__(self, message: Mapping[str, Any]) -> None:
        call = self.call
        if call is None or call.ended:
            log.warning("DTMF message %r dropped: no live call for it", message)
            return
        try:
            press = press_from_message(message)
        except MalformedDTMFMessage as error:
            log.warning("call %s: DTMF message dropped (%s): %r", call.call_id, error, message)
            return
        if self._admit is not None and not self._admit(press.key):
            log.debug(
                "call %s: gateway press %s dropped by the key source policy",
                call.call_id,
                press.key,
            )
            return
        try:
            await self._edge.press(
                call,
                press.key,
                pressed_at=press.pressed_at,
                source_message_id=press.source_message_id,
                participant_id=press.participant_id,
                source_payload=press.source_payload,
            )
        except EdgeBusy:
            # Shed: the caller hears the busy prompt, the edge counts and logs shedding.
            log.debug("call %s: press %s shed (edge busy)", call.call_id, press.key)
