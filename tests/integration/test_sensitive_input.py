"""A sensitive gather over the real broker: the service that binds the input gets the digits,
the call log's file only how many there were."""

from __future__ import annotations

import json

from contracts import GatheredInput, KeyPress
from services.billing import service as billing
from services.billing.service import ASK, balance_sentence
from services.calllog.service import MASK
from tests.integration.conftest import System
from tests.support import RecordingSession

REPLY_S = 5.0
ACCOUNT = "98765"


async def test_account_digits_reach_billing_and_are_masked_in_the_call_log(system: System) -> None:
    await system.start_service(billing.build(system.settings))
    edge = await system.start_edge("edge-secrets")
    session = RecordingSession()
    call = await edge.start_call(session, source="simulator")
    await edge.press(call, "3")
    assert await session.said_count(1, timeout=REPLY_S) == [ASK]
    for key in f"{ACCOUNT}#":
        # As VideoSDK reports a press: the source's message carries the digit too.
        await edge.press(call, key, source_payload={"payload": {"number": key}})

    # Billing, bound to input.account, got the digits intact: it says that account's balance.
    said = await session.said_count(2, timeout=REPLY_S)
    assert said[1] == balance_sentence(ACCOUNT)

    def logged(written: list[object]) -> bool:
        presses = sum(isinstance(e, KeyPress) for e in written)
        return presses == 1 + len(ACCOUNT) + 1 and any(
            isinstance(e, GatheredInput) for e in written
        )

    await system.calllog.until(logged, timeout=REPLY_S)
    records = [json.loads(line) for line in system.settings.calllog_path.read_text().splitlines()]
    [gathered] = [r for r in records if r["type"] == "gathered_input"]
    assert (gathered["digits"], gathered["sensitive"]) == (MASK * len(ACCOUNT), True)
    presses = sorted((r for r in records if r["type"] == "key_press"), key=lambda r: r["sequence"])
    # The press that opened the gather is an ordinary key; the collected ones are masked,
    # the finish key included, and their sources' copies left out.
    assert [(p["key"], p.get("sensitive", False)) for p in presses] == [("3", False)] + [
        (MASK, True)
    ] * 6
    assert all(p["source_payload"] == {} for p in presses[1:])
