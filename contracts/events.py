"""What the edge publishes to `dtmf.events`: key presses and the call lifecycle."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, field_validator

from contracts.base import Message, new_id, utcnow
from contracts.keys import key_routing_key, normalize_key

NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class CallEvent(Message):
    event_id: NonEmpty = Field(default_factory=new_id, description="Unique; the idempotency key.")
    call_id: NonEmpty = Field(description="The call session this event belongs to.")
    reply_to: NonEmpty = Field(description="Edge instance id; replies are routed to it.")
    source: NonEmpty = Field(description="Where the call comes from: videosdk, simulator, ...")


class KeyPress(CallEvent):
    """One key pressed by the caller, normalized from whatever the source reported."""

    type: Literal["key_press"] = "key_press"
    key: str = Field(description="0-9, *, #, A-D. Routing keys spell * and # as star and hash.")
    sequence: int = Field(ge=1, description="Per-call press counter, starting at 1.")
    pressed_at: datetime = Field(description="When the source says the key was pressed.")
    received_at: datetime = Field(default_factory=utcnow, description="When the edge got it.")
    duration_ms: int | None = Field(default=None, ge=0, description="Tone length if known.")
    source_message_id: str | None = Field(default=None, description="The source's own id.")
    participant_id: str | None = Field(default=None, description="Who pressed, per the source.")
    source_payload: dict[str, Any] = Field(
        default_factory=dict, description="The source's message as received, kept whole."
    )

    @field_validator("key", mode="before")
    @classmethod
    def _normalize(cls, value: object) -> str:
        return normalize_key(value)

    @property
    def routing_key(self) -> str:
        return key_routing_key(self.key)


class CallStarted(CallEvent):
    ROUTING_KEY: ClassVar[str] = "call.started"

    type: Literal["call_started"] = "call_started"
    started_at: datetime = Field(default_factory=utcnow)
    caller: str | None = Field(default=None, description="Caller number or SIP URI if known.")

    @property
    def routing_key(self) -> str:
        return self.ROUTING_KEY


class CallEnded(CallEvent):
    ROUTING_KEY: ClassVar[str] = "call.ended"

    type: Literal["call_ended"] = "call_ended"
    ended_at: datetime = Field(default_factory=utcnow)
    reason: str = "hangup"

    @property
    def routing_key(self) -> str:
        return self.ROUTING_KEY


Event = Annotated[KeyPress | CallStarted | CallEnded, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[KeyPress | CallStarted | CallEnded] = TypeAdapter(Event)


def parse_event(body: bytes | str) -> KeyPress | CallStarted | CallEnded:
    """Parse and validate one event; raises pydantic.ValidationError with the reason."""
    return EVENT_ADAPTER.validate_json(body)
