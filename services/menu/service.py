"""The menu fallback: answers every key press that no service handles, naming the keys that
are served right now (learned from the services' announcements)."""

from __future__ import annotations

import logging

from contracts import Action, KeyPress, Say
from services.runtime.directory import ServiceDirectory, spoken_choices
from services.runtime.service import ConsumerService, unrouted
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

NOTHING_SERVED = "Invalid input. Please hold for an agent."


def invalid_input(directory: ServiceDirectory) -> str:
    choices = spoken_choices(directory.offers())
    return f"Invalid input. {choices}" if choices else NOTHING_SERVED


def answer(directory: ServiceDirectory, press: KeyPress, *, press_ttl_s: float) -> str:
    """The prompt for a press that reached the menu, which proves that no queue binds its
    key: a service still offering it is gone (stopped without a word, its queue expired), and
    the prompt must not send the caller back to it. A press waits at most `press_ttl_s` before
    it is handled (the queue's message TTL), so a service heard from more recently may have
    bound the key after the press was routed: it keeps its offer."""
    withdrawn = directory.withdraw(press.key, unless_heard_within=press_ttl_s)
    if withdrawn:
        log.warning(
            "key %s reached the menu, so no queue binds it: no longer offered for %s",
            press.key,
            ", ".join(withdrawn),
        )
    return invalid_input(directory)


def build(settings: Settings) -> ConsumerService:
    directory = ServiceDirectory()
    press_ttl_s = settings.press_ttl_ms / 1000

    async def handle(press: KeyPress) -> list[Action]:
        return [Say(text=answer(directory, press, press_ttl_s=press_ttl_s))]

    return ConsumerService(name="menu", bindings=unrouted(), handler=handle, directory=directory)
