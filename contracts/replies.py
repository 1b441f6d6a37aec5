"""What consumer services send back to the call: a reply holding ordered actions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from contracts.base import Message, new_id, utcnow


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


Action = Annotated[Say | SetInstructions | Transfer | Hangup, Field(discriminator="action")]


class Reply(Message):
    """Routed on `dtmf.replies` by the edge instance id that owns the call."""

    type: Literal["reply"] = "reply"
    reply_id: str = Field(default_factory=new_id)
    call_id: str = Field(min_length=1, max_length=200)
    in_reply_to: str = Field(min_length=1, max_length=200, description="The event id answered.")
    service: str = Field(min_length=1, max_length=100)
    sent_at: datetime = Field(default_factory=utcnow)
    actions: list[Action] = Field(min_length=1, max_length=20)


REPLY_ADAPTER: TypeAdapter[Reply] = TypeAdapter(Reply)


def parse_reply(body: bytes | str) -> Reply:
    return REPLY_ADAPTER.validate_json(body)
