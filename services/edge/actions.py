"""What a reply's actions do to its call: each in order, and a refused one skips the rest.

Whether a reply is applied at all (once per press and service, never after a newer one) is
the edge's call (services.edge.edge); this module only interprets the actions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from contracts.replies import Gather, Hangup, Reply, Say, SendDigits, SetInstructions, Transfer
from services.edge.calls import SEND_DIGITS_REFUSALS, Call, DigitSender, send_digits_refusal
from services.runtime.transfers import TRANSFER_REFUSED_PROMPT, TransferAllowlist, TransferRefused

if TYPE_CHECKING:
    from services.edge.gather import Gathers
    from services.runtime.metrics import Metrics

log = logging.getLogger(__name__)

# Ends a call on the edge once its session hung up: (call, reason).
EndCall = Callable[[Call, str], Awaitable[None]]


class Actions:
    def __init__(
        self,
        metrics: Metrics,
        *,
        transfer_allow: TransferAllowlist,
        gathers: Gathers,
        end_call: EndCall,
    ) -> None:
        self._metrics = metrics
        # A transfer reaches outside the call: only where the operator allowed.
        self._transfer_allow = transfer_allow
        self._gathers = gathers
        self._end_call = end_call
        for reason in SEND_DIGITS_REFUSALS:  # zeros from the start, for rate() and alerts
            metrics.actions_refused.labels("send_digits", reason)

    async def run(self, call: Call, reply: Reply) -> None:
        for action in reply.actions:
            match action:
                case Say(text=text):
                    await call.session.say(text)
                case SetInstructions(instructions=instructions):
                    await call.session.set_instructions(instructions)
                case Transfer(to=to):
                    if not await self._transfer(call, to, service=reply.service):
                        break  # the rest of the reply counted on the transfer
                case Hangup(reason=reason):
                    await call.session.hangup(reason)
                    await self._end_call(call, reason)
                case Gather():
                    await self._gathers.start(call, action)
                case SendDigits():
                    if not await self._send_digits(call, action, service=reply.service):
                        break  # what follows counted on the far end having heard the digits

    async def _transfer(self, call: Call, to: str, *, service: str) -> bool:
        """Transfer the call if the allowlist permits `to`; else apologise. Whether it did."""
        try:
            target = self._transfer_allow.permit(to)
        except TransferRefused as why:
            self._metrics.transfers_refused.labels(service).inc()
            log.warning(
                "call %s: transfer asked by service %r refused: %s", call.call_id, service, why
            )
            await call.session.say(TRANSFER_REFUSED_PROMPT)
            return False
        await call.session.transfer(target)
        return True

    async def _send_digits(self, call: Call, action: SendDigits, *, service: str) -> bool:
        """Play the tones, or refuse them (logged; no crash, no tones). Whether they played.
        The digits are never logged: they can be a PIN typed into a bank's menu."""
        refusal = send_digits_refusal(call)
        if refusal is not None:
            reason, why = refusal
            self._metrics.actions_refused.labels("send_digits", reason).inc()
            log.warning(
                "call %s: send_digits (%d characters) from service %r refused: %s",
                call.call_id,
                len(action.digits),
                service,
                why,
            )
            return False
        assert isinstance(call.session, DigitSender)  # send_digits_refusal checked it
        await call.session.send_digits(action.digits, tone_ms=action.tone_ms, gap_ms=action.gap_ms)
        return True
