"""What the other services serve, learned from their announcements (plain data, no I/O)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from contracts.control import ServiceAnnouncement
from contracts.keys import KEYS

# How menus list choices: 1 to 9, then 0 (the operator, by habit), then the rest.
SPEAKING_ORDER = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", *KEYS[10:])


@dataclass(frozen=True)
class Offer:
    key: str
    label: str


class ServiceDirectory:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # (service, instance) -> (announcement, expires at)
        self._live: dict[tuple[str, str], tuple[ServiceAnnouncement, float]] = {}

    def update(self, announcement: ServiceAnnouncement) -> None:
        key = (announcement.service, announcement.instance)
        if announcement.status == "down":
            self._live.pop(key, None)
        else:
            self._live[key] = (announcement, self._clock() + announcement.valid_for_s)

    def offers(self) -> list[Offer]:
        """Served keys in keypad order, each with the label of a live service answering it."""
        now = self._clock()
        self._live = {k: v for k, v in self._live.items() if v[1] > now}
        labels: dict[str, str] = {}
        for announcement, _ in sorted(self._live.values(), key=lambda v: v[0].service):
            for key in announcement.keys:
                labels.setdefault(key, announcement.label)
        return [Offer(key, labels[key]) for key in SPEAKING_ORDER if key in labels]


SPOKEN = {"*": "star", "#": "hash"}


def spoken_choices(offers: list[Offer]) -> str:
    """`Press 1 for Sales, 2 for Support or 3 for Billing.`"""
    parts = [f"{SPOKEN.get(offer.key, offer.key)} for {offer.label}" for offer in offers]
    if not parts:
        return ""
    if len(parts) == 1:
        return f"Press {parts[0]}."
    return f"Press {', '.join(parts[:-1])} or {parts[-1]}."
