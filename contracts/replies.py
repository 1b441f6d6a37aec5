"""What consumer services send back to the call: a reply holding ordered actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from contracts.base import Message, new_id, utcnow
from contracts.keys import normalize_key

INPUT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


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
    min_digits: int = Field(default=1, ge=0, le=64)
    max_digits: int = Field(default=20, ge=1, le=64)
    finish_key: str | None = Field(default="#", description="None: only count or time ends it.")
    inter_digit_timeout_s: float = Field(default=5.0, gt=0, le=120)
    timeout_s: float = Field(default=30.0, gt=0, le=600, description="Bound on the whole input.")
    barge_in: bool = Field(default=True, description="A press interrupts the agent's speech.")

    @field_validator("finish_key", mode="before")
    @classmethod
    def _key(cls, value: object) -> str | None:
        return None if value is None else normalize_key(value)

    @model_validator(mode="after")
    def _bounds(self) -> Gather:
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits {self.min_digits} > max_digits {self.max_digits}")
        return self


Action = Annotated[
    Say | SetInstructions | Transfer | Hangup | Gather, Field(discriminator="action")
]


class Reply(Message):
    """Routed on `dtmf.replies` by the edge instance id that owns the call."""

    type: Literal["reply"] = "reply"
    reply_id: str = Field(default_factory=new_id)
    call_id: str = Field(min_length=1, max_length=200)
    in_reply_to: str = Field(min_length=1, max_length=200, description="The event id answered.")
    sequence: int | None = Field(
        default=None, ge=1, description="Per-call sequence of the press answered; orders replies."
    )
    service: str = Field(min_length=1, max_length=100)
    sent_at: datetime = Field(default_factory=utcnow)
    actions: list[Action] = Field(min_length=1, max_length=20)


REPLY_ADAPTER: TypeAdapter[Reply] = TypeAdapter(Reply)


def parse_reply(body: bytes | str) -> Reply:
    return REPLY_ADAPTER.validate_json(body)
