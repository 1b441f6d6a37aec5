"""The menu fallback: answers every key press that no service handles, naming the keys that
are served right now (learned from the services' announcements)."""

from __future__ import annotations

from contracts import Action, KeyPress, Say
from services.runtime.directory import ServiceDirectory, spoken_choices
from services.runtime.service import ConsumerService, unrouted
from services.runtime.settings import Settings

INVALID_INPUT = "Invalid input. Press 1 for Sales or 2 for Support."
NOTHING_SERVED = "Invalid input. Please hold for an agent."


def invalid_input(directory: ServiceDirectory) -> str:
    choices = spoken_choices(directory.offers())
    return f"Invalid input. {choices}" if choices else NOTHING_SERVED


def build(settings: Settings) -> ConsumerService:
    directory = ServiceDirectory()

    async def handle(press: KeyPress) -> list[Action]:
        return [Say(text=invalid_input(directory))]

    return ConsumerService(name="menu", bindings=unrouted(), handler=handle, directory=directory)
