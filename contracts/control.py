"""The control plane: services announce what they serve, so the menu can say it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from contracts.base import Message, new_id
from contracts.keys import Key
from contracts.replies import INPUT_NAME_PATTERN
from contracts.wire import WIRE

CONTROL_EXCHANGE = "dtmf.control"  # topic
ANNOUNCE_ROUTING_KEY = "service.announce"
DISCOVER_ROUTING_KEY = "service.discover"


class ServiceAnnouncement(Message):
    """A service instance is up (again every interval) or going down; or a whole service is
    retired (its queue removed by an operator): every instance of it is to be forgotten."""

    type: Literal["service_announcement"] = "service_announcement"
    service: str = Field(min_length=1, max_length=100)
    instance: str = Field(default_factory=new_id, min_length=1, max_length=200)
    label: str = Field(min_length=1, max_length=100, description="How the menu names it.")
    keys: list[Key] = Field(default_factory=list, description="Keys it answers.")
    inputs: list[Annotated[str, Field(pattern=INPUT_NAME_PATTERN)]] = Field(
        default_factory=list, description="Gathered inputs it takes."
    )
    status: Literal["up", "down", "retired"] = Field(
        default="up",
        description=(
            "up: this instance serves `keys` and `inputs`; down: this instance stops; "
            "retired: the service is gone for good, forget every instance of it."
        ),
    )
    valid_for_s: float = Field(default=90.0, gt=0, description="Forget it after this silence.")


class Discover(Message):
    """Asks every service to announce itself now (sent by a menu that just started)."""

    type: Literal["discover"] = "discover"


ANNOUNCEMENT_ADAPTER: TypeAdapter[ServiceAnnouncement] = TypeAdapter(ServiceAnnouncement)


def parse_announcement(body: bytes | str) -> ServiceAnnouncement:
    """Parse and validate one announcement as read off the bus (see contracts.wire)."""
    return ANNOUNCEMENT_ADAPTER.validate_json(body, context=WIRE)
