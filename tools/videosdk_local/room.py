"""A VideoSDK room's network side, in process, and the DTMF message its PubSub delivers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

PARTICIPANT = "otb9vc4s"  # the caller, as in VideoSDK's documented message


def dtmf_message(
    number: object, *, msg_id: str = "32gwnzkt5we", millis: object = "1757332934706"
) -> dict[str, Any]:
    """A DTMF_EVENT PubSub message in the format VideoSDK documents."""
    return {
        "message": "Dtmf event received",
        "senderId": PARTICIPANT,
        "timestamp": "2025-09-08T12:02:14.726Z",
        "topic": "DTMF_EVENT",
        "senderName": "Participant",
        "id": msg_id,
        "payload": {"number": number, "timestamp": millis},
    }


class LocalPubSubRoom:
    """The room's network side, in process: only what the SDK calls on a room in this flow."""

    audio_track = None  # no media; JobContext hands this to the pipeline

    def __init__(self) -> None:
        self.subscriptions: dict[str, Callable[[Any], Any]] = {}
        self.subscribed = asyncio.Event()
        self.transfers: list[str] = []
        self.end_reasons: list[str] = []
        self._session_end_callbacks: list[Callable[[str], None]] = []
        self._returned: list[asyncio.Future[Any]] = []
        # The SDK reads these two names on a room (AgentSession.say, JobContext.shutdown).
        self._left = False
        self._session_ended = False

    @property
    def left(self) -> bool:
        return self._left

    async def connect(self) -> None:
        pass

    async def subscribe_to_pubsub(self, config: dict[str, Any]) -> list[Any]:
        self.subscriptions[config["topic"]] = config["cb"]
        self.subscribed.set()
        return []  # no earlier messages

    def publish(self, topic: str, message: object) -> None:
        # VideoSDK's PubSub calls the subscriber synchronously with the decoded message.
        result = self.subscriptions[topic](message)
        if isinstance(result, asyncio.Future):
            self._returned.append(result)

    async def settle(self) -> None:
        """Await whatever the subscriber callbacks returned (the stock handler's tasks)."""
        await asyncio.gather(*self._returned)

    def setup_session_end_callback(self, callback: Callable[[str], None]) -> None:
        self._session_end_callbacks.append(callback)

    async def wait_for_participant(self, participant_id: str | None = None) -> str:
        return participant_id or PARTICIPANT

    async def call_transfer(self, transfer_to: str) -> None:
        self.transfers.append(transfer_to)

    async def force_end_session(self, reason: str = "manual_hangup") -> None:
        self.end_session(reason)

    def end_session(self, reason: str) -> None:
        """What the room does when the caller hangs up or the session is ended."""
        if self._session_ended:
            return
        self._session_ended = True
        self.end_reasons.append(reason)
        for callback in self._session_end_callbacks:
            callback(reason)

    async def leave(self) -> None:
        self._left = True

    async def cleanup(self) -> None:
        pass
