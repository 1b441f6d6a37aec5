"""Support, on key 2: the caller now talks to a Support Specialist."""

from __future__ import annotations

from contracts import Action, KeyPress, Say, SetInstructions
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import Settings

INSTRUCTIONS = (
    "You are a Support Specialist. Ask what is wrong, troubleshoot step by step and "
    "open a ticket when you cannot solve it on the call."
)


async def handle(press: KeyPress) -> list[Action]:
    return [SetInstructions(instructions=INSTRUCTIONS), Say(text="Routing you to Support...")]


def build(settings: Settings) -> ConsumerService:
    return ConsumerService(name="support", bindings=keys("2"), handler=handle)
