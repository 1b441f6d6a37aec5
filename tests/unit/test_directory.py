"""What the menu knows of the other services, and how it says it."""

from __future__ import annotations

from contracts.control import ServiceAnnouncement
from services.menu.service import NOTHING_SERVED, invalid_input
from services.runtime.directory import Offer, ServiceDirectory, spoken_choices


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def announce(service: str, keys: list[str], **extra: object) -> ServiceAnnouncement:
    return ServiceAnnouncement(service=service, label=service.title(), keys=keys, **extra)


def test_offers_are_in_keypad_order_with_labels() -> None:
    directory = ServiceDirectory()
    directory.update(announce("support", ["2"]))
    directory.update(announce("billing", ["3"]))
    directory.update(announce("sales", ["1"]))
    directory.update(announce("operator", ["0", "#"]))
    assert directory.offers() == [
        Offer("1", "Sales"),
        Offer("2", "Support"),
        Offer("3", "Billing"),
        Offer("0", "Operator"),
        Offer("#", "Operator"),
    ]
    assert invalid_input(directory) == (
        "Invalid input. Press 1 for Sales, 2 for Support, 3 for Billing, 0 for Operator "
        "or hash for Operator."
    )


def test_the_design_brief_sentence_for_sales_and_support() -> None:
    directory = ServiceDirectory()
    directory.update(announce("sales", ["1"]))
    directory.update(announce("support", ["2"]))
    assert invalid_input(directory) == "Invalid input. Press 1 for Sales or 2 for Support."


def test_a_service_going_down_or_silent_is_forgotten() -> None:
    clock = Clock()
    directory = ServiceDirectory(clock=clock)
    sales = announce("sales", ["1"], valid_for_s=90)
    directory.update(sales)
    directory.update(announce("billing", ["3"], valid_for_s=90))
    directory.update(sales.model_copy(update={"status": "down"}))
    assert [o.key for o in directory.offers()] == ["3"]
    clock.now = 91
    assert directory.offers() == []
    assert invalid_input(directory) == NOTHING_SERVED


def test_a_key_stays_offered_while_any_instance_serves_it() -> None:
    directory = ServiceDirectory()
    a = announce("sales", ["1"], instance="a")
    directory.update(a)
    directory.update(announce("sales", ["1"], instance="b"))
    directory.update(a.model_copy(update={"status": "down"}))
    assert directory.offers() == [Offer("1", "Sales")]


def test_spoken_choices_for_one_and_none() -> None:
    assert spoken_choices([Offer("*", "Operator")]) == "Press star for Operator."
    assert spoken_choices([]) == ""
