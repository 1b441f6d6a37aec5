"""The billing example: key 3 asks for the account number, the input gets the balance."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import Gather, GatheredInput, KeyPress, Say
from services.billing.service import ASK, RETRY, balance_sentence, build, handle
from services.runtime.service import inputs, keys
from services.runtime.settings import Settings

AT = datetime(2026, 1, 1, tzinfo=UTC)


def gathered(digits: str, reason: str = "finish_key") -> GatheredInput:
    return GatheredInput(
        call_id="c",
        reply_to="e",
        source="simulator",
        name="account",
        digits=digits,
        reason=reason,
        sequence=6,
        started_at=AT,
    )  # type: ignore[arg-type]


async def test_key_three_asks_for_the_account_number() -> None:
    press = KeyPress(
        call_id="c", reply_to="e", source="simulator", key="3", sequence=1, pressed_at=AT
    )
    [action] = await handle(press)
    assert isinstance(action, Gather)
    assert (action.name, action.prompt, action.finish_key) == ("account", ASK, "#")
    assert (action.min_digits, action.max_digits) == (4, 12)
    assert action.sensitive  # an account number: masked in logs and the call log


async def test_a_complete_account_number_gets_its_balance() -> None:
    assert await handle(gathered("1234")) == [Say(text=balance_sentence("1234"))]
    assert balance_sentence("1234") == balance_sentence("1234")
    assert balance_sentence("1234") != balance_sentence("4321")
    assert balance_sentence("1234").startswith("The balance of account 1 2 3 4 is $")


async def test_incomplete_or_odd_input_is_asked_again() -> None:
    for event in (
        gathered("12"),
        gathered("", "no_input"),
        gathered("1234", "timeout"),
        gathered("12*4"),
    ):
        assert await handle(event) == [Say(text=RETRY)]


def test_billing_binds_its_key_and_its_input() -> None:
    service = build(Settings())
    assert list(service.bindings) == [*keys("3"), *inputs("account")]
    assert service.served_keys == ["3"] and service.served_inputs == ["account"]
