"""`VideoSDKCallSession`: the `CallSession` replies act on, over a live `AgentSession`."""

from __future__ import annotations

import logging
from typing import Any

from videosdk.agents import AgentSession

from services.edge.videosdk.digits import play_digits

log = logging.getLogger(__name__)


class VideoSDKCallSession:
    """The `CallSession` replies act on, over a live `AgentSession`."""

    def __init__(self, session: AgentSession) -> None:
        self.session = session

    def _agent(self, action: str) -> Any:
        # AgentSession.close() sets session.agent to None; a reply can still be in flight.
        agent = self.session.agent
        if agent is None:
            log.info("%s dropped: the agent session is closed", action)
        return agent

    async def say(self, text: str) -> None:
        # With a TTS this returns once the audio has played (the orchestrator waits for the
        # last audio byte), so a Say followed by a Transfer is heard before the transfer.
        if self._agent("say") is not None:
            await self.session.say(text)

    async def set_instructions(self, instructions: str) -> None:
        agent = self._agent("set_instructions")
        if agent is not None:
            # The setter also appends a system message to the chat context, which is what
            # makes the LLM follow the new persona from its next turn on.
            agent.instructions = instructions

    async def send_digits(self, digits: str, *, tone_ms: int, gap_ms: int) -> None:
        # The tones go out on the agent's audio track (see videosdk.digits): none before the
        # pipeline has started, or once the session is closed.
        track = getattr(self.session.pipeline, "audio_track", None)
        if self._agent("send_digits") is None:
            return
        if track is None:
            log.warning("send_digits dropped: the pipeline has no audio output track")
            return
        await play_digits(track, digits, tone_ms=tone_ms, gap_ms=gap_ms)

    async def transfer(self, to: str) -> None:
        await self.session.call_transfer(to)

    async def hangup(self, reason: str) -> None:
        await self.session.hangup(reason)

    async def interrupt(self) -> None:
        # Barge-in: cut the current utterance short (the SDK keeps it if uninterruptible).
        if self._agent("interrupt") is not None:
            self.session.interrupt()
