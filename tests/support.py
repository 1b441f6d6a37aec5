"""Test doubles of the caller's side, shared by the test tiers."""

from __future__ import annotations

import asyncio

# What a caller hears after a key no service answers while sales (1) and support (2) are the
# services up: the menu's prompt, built from their announcements.
INVALID_INPUT = "Invalid input. Press 1 for Sales or 2 for Support."


class RecordingSession:
    """A call session that records what the agent says and lets a test wait for it."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.instructions = ""
        self.interruptions = 0
        self._changed = asyncio.Condition()

    async def say(self, text: str) -> None:
        async with self._changed:
            self.said.append(text)
            self._changed.notify_all()

    async def set_instructions(self, instructions: str) -> None:
        self.instructions = instructions

    async def transfer(self, to: str) -> None:
        await self.say(f"(transfer to {to})")

    async def hangup(self, reason: str) -> None:
        await self.say(f"(hangup: {reason})")

    async def interrupt(self) -> None:
        self.interruptions += 1

    async def said_count(self, n: int, *, timeout: float) -> list[str]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.said) >= n)
        return list(self.said)
