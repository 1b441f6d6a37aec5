"""A consumer service for fault tests, run as a real process: `dtmf-bus run
tests.integration.scripted_service:build`. FAULT_MODE picks its behaviour."""

from __future__ import annotations

import asyncio
import os
import sys

from contracts import Action, KeyPress, Say
from services.runtime.service import ConsumerService, keys
from services.runtime.settings import Settings

NAME = "faulty"
KEY = "7"


def answer(press: KeyPress) -> str:
    return f"{NAME} answered {press.key}"


async def handle(press: KeyPress) -> list[Action]:
    # The test reads this line to know the handler is running.
    sys.stdout.write(f"handling {press.event_id}\n")
    sys.stdout.flush()
    mode = os.environ.get("FAULT_MODE", "ok")
    if mode == "hang":
        await asyncio.Event().wait()  # until the process is killed
    elif mode == "slow":
        await asyncio.sleep(float(os.environ.get("FAULT_DELAY_S", "1")))
    return [Say(text=answer(press))]


def build(settings: Settings) -> ConsumerService:
    return ConsumerService(name=NAME, bindings=keys(KEY), handler=handle)
