"""Billing, on key 3: asks for the account number, then says its balance.

A worked example of a multi-step IVR flow built from the runtime's parts: the press
of 3 is answered with a Gather, and the digits come back as a gathered input named
`account`, which this same service binds like a key.
"""

from __future__ import annotations

import hashlib

from contracts import Action, Gather, GatheredInput, KeyPress, Say
from services.runtime.service import ConsumerService, inputs, keys
from services.runtime.settings import Settings

ACCOUNT = "account"
ASK = "Please enter your account number, then press hash."
RETRY = "Sorry, I didn't get a complete account number. Press 3 to try again."


def ask_for_account() -> Gather:
    # sensitive: an account number is masked in logs and the call log, intact for us.
    return Gather(
        name=ACCOUNT, prompt=ASK, min_digits=4, max_digits=12, finish_key="#", sensitive=True
    )


def fake_balance(account: str) -> str:
    """Demo data: a stable amount per account number, so tests can check it."""
    cents = int.from_bytes(hashlib.sha256(account.encode()).digest()[:4], "big") % 100_000
    return f"${cents // 100}.{cents % 100:02d}"


def balance_sentence(account: str) -> str:
    spoken = " ".join(account)
    return f"The balance of account {spoken} is {fake_balance(account)}."


async def handle(event: KeyPress | GatheredInput) -> list[Action]:
    if isinstance(event, KeyPress):
        return [ask_for_account()]
    complete = event.reason in ("finish_key", "max_digits")
    if not complete or not 4 <= len(event.digits) <= 12 or not event.digits.isdigit():
        return [Say(text=RETRY)]
    return [Say(text=balance_sentence(event.digits))]


def build(settings: Settings) -> ConsumerService:
    return ConsumerService(name="billing", bindings=[*keys("3"), *inputs(ACCOUNT)], handler=handle)
