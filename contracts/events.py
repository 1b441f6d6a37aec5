"""What the edge publishes to `dtmf.events`: key presses and the call lifecycle."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, TypeAdapter, ValidationInfo, field_validator

from contracts.base import Message, new_id, utcnow
from contracts.keys import KEYS_PATTERN, InvalidKey, Key, normalize_key, routing_word
from contracts.replies import INPUT_NAME_PATTERN
from contracts.timestamps import Timestamp
from contracts.wire import WIRE, on_wire

NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class CallEvent(Message):
    event_id: NonEmpty = Field(default_factory=new_id, description="Unique; the idempotency key.")
    call_id: NonEmpty = Field(description="The call session this event belongs to.")
    reply_to: NonEmpty = Field(description="Edge instance id; replies are routed to it.")
    source: NonEmpty = Field(description="Where the call comes from: videosdk, simulator, ...")


class KeyPress(CallEvent):
    """One key pressed by the caller, normalized from whatever the source reported."""

    type: Literal["key_press"] = "key_press"
    key: Key = Field(description="0-9, *, #, A-D. Routing keys spell * and # as star and hash.")
    sequence: int = Field(ge=1, description="Per-call press counter, starting at 1.")
    pressed_at: Timestamp = Field(description="When the source says the key was pressed.")
    received_at: Timestamp = Field(default_factory=utcnow, description="When the edge got it.")
    duration_ms: int | None = Field(default=None, ge=0, description="Tone length if known.")
    source_message_id: str | None = Field(default=None, description="The source's own id.")
    participant_id: str | None = Field(default=None, description="Who pressed, per the source.")
    source_payload: dict[str, Any] = Field(
        default_factory=dict, description="The source's message as received, kept whole."
    )
    collecting: str | None = Field(
        default=None,
        description="Set when a gather collected this press: it goes to the log, not to services.",
    )
    sensitive: bool = Field(
        default=False,
        # Sent only when true: a consumer of schema 1.0 sees no new field until it is used.
        exclude_if=lambda sensitive: not sensitive,
        description="Collected by a sensitive gather: the key is a secret digit, masked in logs.",
    )

    def age(self, now: datetime) -> timedelta:
        """How long ago the caller pressed, counted from the earlier of the two timestamps.

        `pressed_at` is the source's clock, `received_at` the edge's: a press the edge got
        late (a backlog, a replay) is as old as its `pressed_at` says, and a source clock
        running ahead can't make a press look newer than its arrival at the edge.
        """
        return now - min(self.pressed_at, self.received_at)

    @property
    def routing_key(self) -> str:
        # Collected presses stay out of `dtmf.#`, so no key service acts on them.
        prefix = "collect" if self.collecting else "dtmf"
        return f"{prefix}.{routing_word(self.key)}"


GatherEnd = Literal["finish_key", "max_digits", "inter_digit_timeout", "timeout", "no_input"]


class GatheredInput(CallEvent):
    """Digits a gather collected; services bind `input.<name>` to receive them."""

    type: Literal["gathered_input"] = "gathered_input"
    name: str = Field(pattern=INPUT_NAME_PATTERN)
    digits: str = Field(
        default="",
        max_length=64,
        pattern=KEYS_PATTERN,
        description="Keys pressed, finish key excluded.",
    )
    reason: GatherEnd = Field(description="Why collecting ended.")
    sequence: int = Field(ge=1, description="Sequence of the last press that belongs to it.")
    started_at: Timestamp
    ended_at: Timestamp = Field(default_factory=utcnow)
    sensitive: bool = Field(
        default=False,
        # Sent only when true: a consumer of schema 1.0 sees no new field until it is used.
        exclude_if=lambda sensitive: not sensitive,
        description="The gather was sensitive: the digits are a secret, masked in logs.",
    )

    @field_validator("digits", mode="before")
    @classmethod
    def _keys_only(cls, value: object, info: ValidationInfo) -> object:
        # Normalized when built in Python; read off the bus, the pattern alone decides.
        if on_wire(info) or not isinstance(value, str):
            return value
        try:
            return "".join(normalize_key(char) for char in value)
        except InvalidKey:
            return value  # the pattern refuses it, naming the field

    @property
    def routing_key(self) -> str:
        return input_routing_key(self.name)


def input_routing_key(name: str) -> str:
    return f"input.{name}"


class CallStarted(CallEvent):
    ROUTING_KEY: ClassVar[str] = "call.started"

    type: Literal["call_started"] = "call_started"
    started_at: Timestamp = Field(default_factory=utcnow)
    caller: str | None = Field(default=None, description="Caller number or SIP URI if known.")

    @property
    def routing_key(self) -> str:
        return self.ROUTING_KEY


class CallEnded(CallEvent):
    ROUTING_KEY: ClassVar[str] = "call.ended"

    type: Literal["call_ended"] = "call_ended"
    ended_at: Timestamp = Field(default_factory=utcnow)
    reason: str = "hangup"

    @property
    def routing_key(self) -> str:
        return self.ROUTING_KEY


AnyEvent = KeyPress | CallStarted | CallEnded | GatheredInput
Event = Annotated[AnyEvent, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(Event)


def parse_event(body: bytes | str) -> AnyEvent:
    """Parse and validate one event as read off the bus (see contracts.wire); raises
    pydantic.ValidationError with the reason."""
    return EVENT_ADAPTER.validate_json(body, context=WIRE)
