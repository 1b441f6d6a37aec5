"""The simulator call source: a scripted call or a keypad in the terminal.

It drives the same Edge as VideoSDK does; only the session (what the agent does)
is printed instead of spoken.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from contracts.keys import InvalidKey, normalize_key
from services.edge.calls import Call
from services.edge.edge import Edge, EdgeBusy
from services.edge.greeting import GREETING

log = logging.getLogger(__name__)

Printer = Callable[[str], None]


def stdout_printer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass
class SimulatedSession:
    """The agent's side of a simulated call: what it says and does, as printed lines."""

    label: str
    out: Printer = stdout_printer
    instructions: str = f"You are an IVR. Say: {GREETING}"
    said: list[str] = field(default_factory=list)
    transferred_to: str | None = None
    hung_up: bool = False
    interruptions: int = 0
    digits_sent: list[str] = field(default_factory=list)

    async def say(self, text: str) -> None:
        self.said.append(text)
        self.out(f"[{self.label}] agent says: {text}")

    async def set_instructions(self, instructions: str) -> None:
        self.instructions = instructions
        self.out(f"[{self.label}] agent becomes: {instructions.split('.')[0]}")

    async def send_digits(self, digits: str, *, tone_ms: int, gap_ms: int) -> None:
        # No audio here: the digits are printed (and kept) instead of played as tones.
        self.digits_sent.append(digits)
        self.out(f"[{self.label}] agent sends digits: {digits} ({tone_ms} ms tones)")

    async def transfer(self, to: str) -> None:
        self.transferred_to = to
        self.out(f"[{self.label}] agent transfers the call to {to}")

    async def hangup(self, reason: str) -> None:
        self.hung_up = True
        self.out(f"[{self.label}] agent hangs up ({reason})")

    async def interrupt(self) -> None:
        # Printed speech is already over when a key can be pressed: nothing to cut short.
        self.interruptions += 1


def parse_keys(text: str) -> list[str]:
    """`1,2,9,0,*,#` -> keys; raises InvalidKey naming the bad one."""
    return [normalize_key(part) for part in text.split(",") if part.strip()]


@dataclass
class CallResult:
    call: Call
    session: SimulatedSession
    answered: int
    unanswered: list[str]
    collected: int = 0
    shed: list[str] = field(default_factory=list)  # the edge was too busy to send them


async def scripted_call(
    edge: Edge,
    keys: Sequence[str],
    *,
    reply_timeout: float,
    label: str = "call",
    out: Printer = stdout_printer,
) -> CallResult:
    """Press each key in turn and wait for its reply before the next, like a caller would."""
    session = SimulatedSession(label=label, out=out)
    call = await edge.start_call(session, source="simulator")
    out(f"[{label}] call {call.call_id} connected; agent: {GREETING}")
    answered, collected, unanswered, shed = 0, 0, [], []
    for key in keys:
        out(f"[{label}] caller presses {key}")
        try:
            handle = await edge.press(call, key)
        except EdgeBusy:
            shed.append(key)  # the caller heard the busy prompt
            continue
        if handle.answered_by is None:
            collected += 1  # by a gather: the answer comes when the input is complete
            continue
        if await handle.reply(timeout=reply_timeout) is None:
            out(f"[{label}] (no reply to {key} within {reply_timeout:.1f}s)")
            unanswered.append(key)
        else:
            answered += 1
        if call.ended:
            break
    await edge.end_call(call, reason="caller_hangup")
    out(
        f"[{label}] call ended: {answered} presses answered, {collected} collected as input, "
        f"{len(unanswered)} unanswered" + (f", {len(shed)} not sent (edge busy)" if shed else "")
    )
    return CallResult(
        call=call,
        session=session,
        answered=answered,
        unanswered=unanswered,
        collected=collected,
        shed=shed,
    )


async def keypad(edge: Edge, *, reply_timeout: float, out: Printer = stdout_printer) -> None:
    """Interactive: type keys (e.g. `1` or `12#`) and Enter; an empty line or `q` hangs up."""
    session = SimulatedSession(label="you", out=out)
    call = await edge.start_call(session, source="simulator")
    out(f"Connected. Agent: {GREETING} (keys 0-9 * # A-D, q to hang up)")
    loop = asyncio.get_running_loop()
    while not call.ended:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        text = line.strip()
        if not line or text.lower() in {"", "q"}:
            break
        for char in text:
            try:
                handle = await edge.press(call, char)
            except InvalidKey as error:
                out(f"  {error}")
                continue
            except EdgeBusy:
                continue  # the caller heard the busy prompt
            if handle.answered_by is None:
                continue  # collected by a gather: the input's reply answers it
            if await handle.reply(timeout=reply_timeout) is None:
                out(f"  (no reply to {handle.event.key} within {reply_timeout:.1f}s)")
    await edge.end_call(call, reason="caller_hangup")
    out("Call ended.")
