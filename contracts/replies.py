"""What consumer services send back to the call: a reply holding ordered actions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)

from contracts.base import Message, new_id, utcnow
from contracts.keys import KEYS, Key
from contracts.timestamps import Timestamp
from contracts.wire import WIRE, on_wire

INPUT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


def _action_required(schema: dict[str, Any]) -> None:
    # `action` picks the model: a default can't stand in for it on the wire.
    schema["properties"]["action"].pop("default", None)
    schema["required"] = ["action", *(n for n in schema.get("required", []) if n != "action")]


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_action_required)


class Say(_Action):
    """Speak this text to the caller."""

    action: Literal["say"] = "say"
    text: str = Field(min_length=1, max_length=2000)


class SetInstructions(_Action):
    """Replace the agent's instructions (its persona) for the rest of the call."""

    action: Literal["set_instructions"] = "set_instructions"
    instructions: str = Field(min_length=1, max_length=20000)


class Transfer(_Action):
    """Transfer the call to a phone number or SIP endpoint."""

    action: Literal["transfer"] = "transfer"
    to: str = Field(min_length=1, max_length=200)


class Hangup(_Action):
    action: Literal["hangup"] = "hangup"
    reason: str = "hangup"


class Gather(_Action):
    """Collect digits on the call, then publish them as one `gathered_input` event.

    Defaults follow common IVR platforms: finish on `#`, 5 s between digits.
    """

    action: Literal["gather"] = "gather"
    name: str = Field(pattern=INPUT_NAME_PATTERN, description="Routes the input: input.<name>.")
    prompt: str | None = Field(default=None, max_length=2000, description="Said first.")
    min_digits: int = Field(
        default=1, ge=0, le=64, description="At most max_digits; a larger one counts as it."
    )
    max_digits: int = Field(default=20, ge=1, le=64)
    finish_key: Key | None = Field(default="#", description="None: only count or time ends it.")
    inter_digit_timeout_s: float = Field(default=5.0, gt=0, le=120)
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Bound on the whole input.")
    barge_in: bool = Field(default=True, description="A press interrupts the agent's speech.")
    sensitive: bool = Field(
        default=False,
        # Sent only when true: a consumer of schema 1.0 sees no new field until it is used.
        exclude_if=lambda sensitive: not sensitive,
        description="The digits are a secret (an account number, a PIN): masked in logs and "
        "the call log, delivered intact to the service that binds input.<name>.",
    )

    @model_validator(mode="after")
    def _bounds(self, info: ValidationInfo) -> Gather:
        # A mistake in a Python service, refused where it is made. JSON Schema can't compare
        # two fields, so read off the bus it is accepted as documented, not refused for shape.
        if self.min_digits > self.max_digits and not on_wire(info):
            raise ValueError(f"min_digits {self.min_digits} > max_digits {self.max_digits}")
        return self


# What send_digits plays: the sixteen keys, and `w` for a pause.
SEND_DIGITS_PATTERN = r"^[0-9*#A-Dw]+$"
PAUSE_DIGIT = "w"
PAUSE_MS = 500


def _playable(value: object) -> object:
    # The pattern alone would say only "should match pattern": name the offending character.
    if isinstance(value, str):
        for position, char in enumerate(value):
            if char != PAUSE_DIGIT and char not in KEYS:
                raise ValueError(
                    f"digit {char!r} at position {position} can't be sent: "
                    f"use 0-9 * # A-D, or {PAUSE_DIGIT} for a {PAUSE_MS} ms pause"
                )
    return value


class SendDigits(_Action):
    """Play DTMF tones into the call, as if the agent pressed keys (a phone menu at the far
    end of an outbound call, an extension after a transfer).

    Played through the agent's audio output in order with the reply's other actions. Refused
    (and logged, the reply's later actions skipped) while the call is collecting digits from
    the caller: the tones would be heard as the caller's own input. The defaults (100 ms tone,
    100 ms gap) are what automatic dialers send; 40 ms is the shortest a Q.24 receiver must
    accept.
    """

    action: Literal["send_digits"] = "send_digits"
    digits: Annotated[str, BeforeValidator(_playable)] = Field(
        min_length=1,
        max_length=64,
        pattern=SEND_DIGITS_PATTERN,
        description=f"Keys 0-9 * # A-D in order; {PAUSE_DIGIT} is a {PAUSE_MS} ms pause.",
    )
    tone_ms: int = Field(default=100, ge=40, le=1000, description="Length of each tone.")
    gap_ms: int = Field(default=100, ge=40, le=1000, description="Silence after each tone.")


Action = Annotated[
    Say | SetInstructions | Transfer | Hangup | Gather | SendDigits, Field(discriminator="action")
]


class Reply(Message):
    """Routed on `dtmf.replies` by the edge instance id that owns the call."""

    type: Literal["reply"] = "reply"
    reply_id: str = Field(
        default_factory=new_id, min_length=1, max_length=200, description="The idempotency key."
    )
    call_id: str = Field(min_length=1, max_length=200)
    in_reply_to: str = Field(min_length=1, max_length=200, description="The event id answered.")
    sequence: int | None = Field(
        default=None, ge=1, description="Per-call sequence of the press answered; orders replies."
    )
    service: str = Field(min_length=1, max_length=100)
    sent_at: Timestamp = Field(default_factory=utcnow)
    actions: list[Action] = Field(min_length=1, max_length=20)


REPLY_ADAPTER: TypeAdapter[Reply] = TypeAdapter(Reply)


def parse_reply(body: bytes | str) -> Reply:
    """Parse and validate one reply as read off the bus (see contracts.wire)."""
    return REPLY_ADAPTER.validate_json(body, context=WIRE)
