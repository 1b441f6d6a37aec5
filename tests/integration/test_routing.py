"""Key press -> RabbitMQ -> consumer service -> reply in the call that pressed, for real."""

from __future__ import annotations

import asyncio
import json

from contracts import Action, KeyPress, Say
from services.edge.simulator import scripted_call
from services.runtime.service import ConsumerService, keys
from services.sales.service import INSTRUCTIONS as SALES
from services.support.service import INSTRUCTIONS as SUPPORT
from tests.integration.conftest import System
from tests.support import INVALID_INPUT

SAID = {
    "1": "Routing you to Sales...",
    "2": "Routing you to Support...",
}


def expected_sayings(pressed: list[str]) -> list[str]:
    return [SAID.get(key, INVALID_INPUT) for key in pressed]


async def test_each_key_reaches_its_service_and_the_reply_its_own_call(system: System) -> None:
    edge_a = await system.start_edge("edge-a")
    edge_b = await system.start_edge("edge-b")
    scripts = {
        ("a", 1): ["1", "9", "2", "0"],
        ("a", 2): ["2", "*", "1"],
        ("b", 1): ["#", "1", "2", "1"],
        ("b", 2): ["0", "2", "D"],
    }
    results = await asyncio.gather(
        *(
            scripted_call(
                edge_a if edge == "a" else edge_b,
                pressed,
                reply_timeout=5,
                label=f"{edge}{n}",
                out=lambda line: None,
            )
            for (edge, n), pressed in scripts.items()
        )
    )
    for (key, pressed), result in zip(scripts.items(), results, strict=True):
        assert result.unanswered == [], key
        assert result.session.said == expected_sayings(pressed), key
        last_persona = [k for k in pressed if k in "12"][-1]
        assert result.session.instructions == (SALES if last_persona == "1" else SUPPORT)

    # The call log saw every press and both lifecycle events of every call, in its file.
    pressed_count = sum(len(p) for p in scripts.values())
    await system.calllog.until(
        lambda written: sum(isinstance(e, KeyPress) for e in written) >= pressed_count, timeout=10
    )
    lines = system.settings.calllog_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    presses = [r for r in records if r["type"] == "key_press"]
    assert len(presses) == pressed_count
    assert {r["call_id"] for r in records if r["type"] == "call_started"} == {
        r.call.call_id for r in results
    }
    per_call = {
        r.call.call_id: [p["key"] for p in presses if p["call_id"] == r.call.call_id]
        for r in results
    }
    for (key, pressed), result in zip(scripts.items(), results, strict=True):
        assert sorted(per_call[result.call.call_id]) == sorted(pressed), key


async def test_a_service_added_at_run_time_takes_its_key_from_the_menu(system: System) -> None:
    edge = await system.start_edge("edge-billing")
    before = await scripted_call(edge, ["3"], reply_timeout=5, out=lambda line: None)
    assert before.session.said == [INVALID_INPUT]

    async def billing(press: KeyPress) -> list[Action]:
        return [Say(text=f"Billing here, you pressed {press.key}.")]

    await system.start_service(ConsumerService(name="billing", bindings=keys("3"), handler=billing))
    after = await scripted_call(edge, ["3", "4", "3"], reply_timeout=5, out=lambda line: None)
    assert after.session.said == [
        "Billing here, you pressed 3.",
        # The menu heard billing announce itself: it now offers 3 as well.
        "Invalid input. Press 1 for Sales, 2 for Support or 3 for Billing.",
        "Billing here, you pressed 3.",
    ]
