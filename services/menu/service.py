"""The menu fallback: answers every key press that no service handles."""

from __future__ import annotations

from contracts import Action, KeyPress, Say
from services.runtime.service import ConsumerService, unrouted
from services.runtime.settings import Settings

INVALID_INPUT = "Invalid input. Press 1 for Sales or 2 for Support."


async def handle(press: KeyPress) -> list[Action]:
    return [Say(text=INVALID_INPUT)]


def build(settings: Settings) -> ConsumerService:
    return ConsumerService(name="menu", bindings=unrouted(), handler=handle)
