"""The greeting a caller hears on connecting: written once, the same sentence as ever."""

from __future__ import annotations

from services.edge.greeting import GREETING
from services.edge.simulator import SimulatedSession, scripted_call
from tests.unit.test_edge import edge

SAID_ON_CONNECT = "Press 1 for Sales or 2 for Support."


def test_the_greeting_is_the_sentence_callers_hear() -> None:
    assert GREETING == SAID_ON_CONNECT


def test_the_simulated_agent_is_told_to_say_it() -> None:
    session = SimulatedSession(label="call", out=lambda line: None)
    assert session.instructions == f"You are an IVR. Say: {SAID_ON_CONNECT}"


async def test_a_scripted_call_prints_it_on_connecting() -> None:
    lines: list[str] = []
    result = await scripted_call(edge()[0], [], reply_timeout=1.0, out=lines.append)
    assert lines[0] == f"[call] call {result.call.call_id} connected; agent: {SAID_ON_CONNECT}"
