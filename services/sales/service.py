"""Sales, on key 1: the caller now talks to a Sales Representative."""

from __future__ import annotations

from contracts import Action, KeyPress, Say, SetInstructions
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import Settings

INSTRUCTIONS = (
    "You are a Sales Representative. Help the caller choose a plan, answer pricing "
    "questions and offer to set up a purchase. Be concise and friendly."
)


async def handle(press: KeyPress) -> list[Action]:
    return [SetInstructions(instructions=INSTRUCTIONS), Say(text="Routing you to Sales...")]


def build(settings: Settings) -> ConsumerService:
    return ConsumerService(name="sales", bindings=keys("1"), handler=handle)
