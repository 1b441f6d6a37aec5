"""The media edge's core: turns a source's key presses into events and replies into actions.

Sources (VideoSDK, the simulator) call `start_call`, `press` and `end_call`; the
reply consumer calls `apply_reply`. Nothing here knows about aio-pika.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from contracts.base import new_id, utcnow
from contracts.events import CallEnded, CallStarted, KeyPress
from contracts.replies import Hangup, Reply, Say, SetInstructions, Transfer
from services.edge.calls import Call, CallRegistry, CallSession

log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    async def publish(self, event: KeyPress | CallStarted | CallEnded) -> None: ...


class Edge:
    def __init__(self, *, edge_id: str, publisher: EventPublisher) -> None:
        self.edge_id = edge_id
        self.calls = CallRegistry()
        self._publisher = publisher

    async def start_call(
        self,
        session: CallSession,
        *,
        source: str,
        call_id: str | None = None,
        caller: str | None = None,
    ) -> Call:
        call = Call(call_id=call_id or new_id(), source=source, session=session)
        self.calls.add(call)
        await self._publisher.publish(
            CallStarted(call_id=call.call_id, reply_to=self.edge_id, source=source, caller=caller)
        )
        log.info("call %s started (source %s)", call.call_id, source)
        return call

    async def press(
        self,
        call: Call,
        raw_key: object,
        *,
        pressed_at: datetime | None = None,
        duration_ms: int | None = None,
        source_message_id: str | None = None,
        participant_id: str | None = None,
        source_payload: Mapping[str, Any] | None = None,
    ) -> KeyPress:
        """Normalize and publish one press; raises contracts.InvalidKey for a bad key."""
        received_at = utcnow()
        event = KeyPress(
            call_id=call.call_id,
            reply_to=self.edge_id,
            source=call.source,
            key=raw_key,  # normalized by the model's validator
            sequence=call.presses + 1,
            pressed_at=pressed_at or received_at,
            received_at=received_at,
            duration_ms=duration_ms,
            source_message_id=source_message_id,
            participant_id=participant_id,
            source_payload=dict(source_payload or {}),
        )
        call.next_sequence()
        call.pending_replies[event.event_id] = asyncio.get_running_loop().create_future()
        await self._publisher.publish(event)
        log.debug("call %s pressed %s (#%d)", call.call_id, event.key, event.sequence)
        return event

    async def end_call(self, call: Call, *, reason: str = "hangup") -> None:
        if self.calls.remove(call.call_id) is None:
            return
        call.ended = True
        call.pending_replies.clear()
        await self._publisher.publish(
            CallEnded(
                call_id=call.call_id, reply_to=self.edge_id, source=call.source, reason=reason
            )
        )
        log.info("call %s ended (%s)", call.call_id, reason)

    async def apply_reply(self, reply: Reply) -> bool:
        """Apply a reply's actions in order to its call; False when the call is not live here."""
        call = self.calls.get(reply.call_id)
        if call is None:
            log.info("reply %s for call %s dropped: not live here", reply.reply_id, reply.call_id)
            return False
        waiter = call.pending_replies.get(reply.in_reply_to)
        for action in reply.actions:
            match action:
                case Say(text=text):
                    await call.session.say(text)
                case SetInstructions(instructions=instructions):
                    await call.session.set_instructions(instructions)
                case Transfer(to=to):
                    await call.session.transfer(to)
                case Hangup(reason=reason):
                    await call.session.hangup(reason)
                    await self.end_call(call, reason=reason)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)
        return True

    async def wait_for_reply(self, call: Call, event: KeyPress, *, timeout: float) -> Reply | None:
        """The first reply applied for this press, or None if none came in time."""
        waiter = call.pending_replies.get(event.event_id)
        if waiter is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return None
        finally:
            call.pending_replies.pop(event.event_id, None)
