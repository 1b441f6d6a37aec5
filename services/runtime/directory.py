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


@dataclass(frozen=True)
class _Heard:
    announcement: ServiceAnnouncement
    at: float  # on the directory's clock
    until: float


class ServiceDirectory:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._live: dict[tuple[str, str], _Heard] = {}  # by (service, instance)

    def update(self, announcement: ServiceAnnouncement) -> None:
        name = announcement.service
        if announcement.status == "retired":
            self._live = {k: v for k, v in self._live.items() if k[0] != name}
        elif announcement.status == "down":
            self._live.pop((name, announcement.instance), None)
        else:
            now = self._clock()
            heard = _Heard(announcement, now, now + announcement.valid_for_s)
            self._live[(name, announcement.instance)] = heard

    def withdraw(self, key: str, *, unless_heard_within: float) -> list[str]:
        """Stop offering `key`: a press of it reached the menu, so no queue binds it (a
        service that stopped without saying so, whose queue expired). Instances heard from
        within the last `unless_heard_within` seconds keep it: that press may have been
        routed just before they bound it. Returns the services that no longer offer it;
        their next announcement offers it again."""
        heard_before = self._clock() - unless_heard_within
        withdrawn = []
        for name, heard in list(self._live.items()):
            announcement = heard.announcement
            if key in announcement.keys and heard.at < heard_before:
                keys = [k for k in announcement.keys if k != key]
                updated = announcement.model_copy(update={"keys": keys})
                self._live[name] = _Heard(updated, heard.at, heard.until)
                withdrawn.append(announcement.service)
        return sorted(set(withdrawn))

    def offers(self) -> list[Offer]:
        """Served keys in keypad order, each with the label of a live service answering it."""
        now = self._clock()
        self._live = {k: v for k, v in self._live.items() if v.until > now}
        labels: dict[str, str] = {}
        for heard in sorted(self._live.values(), key=lambda v: v.announcement.service):
            for key in heard.announcement.keys:
                labels.setdefault(key, heard.announcement.label)
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
