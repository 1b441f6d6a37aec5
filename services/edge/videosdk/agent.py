"""`IVRAgent`, the default agent: a phone menu that greets the caller with the key choices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from videosdk.agents import Agent

from services.edge.greeting import GREETING

DEFAULT_GREETING = GREETING
DEFAULT_INSTRUCTIONS = (
    "You are the automated phone menu (IVR) of this line. Greet the caller and say: "
    f"'{DEFAULT_GREETING}' Keep every answer short. Key presses are handled by other "
    "services, which may give you new instructions during the call; follow them."
)

AgentFactory = Callable[[], Any]  # returns a videosdk.agents.Agent


class IVRAgent(Agent):  # type: ignore[misc]  # videosdk ships no type hints
    """The default agent: a phone menu that greets the caller with the key choices."""

    def __init__(
        self, *, instructions: str = DEFAULT_INSTRUCTIONS, greeting: str = DEFAULT_GREETING
    ) -> None:
        super().__init__(instructions=instructions)
        self.greeting = greeting

    async def on_enter(self) -> None:
        if self.greeting:
            await self.session.say(self.greeting)

    async def on_exit(self) -> None:
        pass
