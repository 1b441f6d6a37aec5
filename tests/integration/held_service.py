"""An interactive service on key 4 for the queue expiry tests, run as a real process:
`dtmf-bus run tests.integration.held_service:build`.

It loads everything, then waits for a line on stdin before it connects: started ahead, it
comes back from an outage as fast as a process that is already loaded (a connection and a
queue declaration), so a test can time an outage without Python's start-up in it.
"""

from __future__ import annotations

import sys

from contracts import Action, KeyPress, Say
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import Settings

NAME = "orders"
KEY = "4"
LABEL = "Orders"


def answer(key: str) -> str:
    return f"{NAME} answered {key}"


async def handle(press: KeyPress) -> list[Action]:
    return [Say(text=answer(press.key))]


def build(settings: Settings) -> ConsumerService:
    sys.stdin.readline()  # the test says go (or closes stdin)
    return ConsumerService(name=NAME, bindings=keys(KEY), handler=handle, label=LABEL)
