"""The menu never offers a key that a press has just proven unbound, and forgets a retired
service at once (the directory's side of the queue expiry policy)."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import KeyPress, Say
from contracts.control import ServiceAnnouncement, parse_announcement
from services.menu import service as menu
from services.menu.service import answer
from services.runtime.directory import Offer, ServiceDirectory
from services.runtime.settings import Settings
from tests.support import INVALID_INPUT
from tests.unit.test_directory import Clock, announce

AT = datetime(2026, 1, 1, tzinfo=UTC)
PRESS_TTL_S = 5.0


def press(key: str) -> KeyPress:
    return KeyPress(
        call_id="c", reply_to="e", source="simulator", key=key, sequence=1, pressed_at=AT
    )


def served(directory: ServiceDirectory) -> list[str]:
    return [offer.key for offer in directory.offers()]


def test_a_press_that_reached_the_menu_takes_its_key_out_of_the_prompt() -> None:
    clock = Clock()
    directory = ServiceDirectory(clock=clock)
    directory.update(announce("sales", ["1"]))
    directory.update(announce("support", ["2"]))
    directory.update(announce("orders", ["4", "5"]))
    clock.now = 70.0  # orders stopped without a word; its queue expired; 4 reaches the menu
    assert answer(directory, press("4"), press_ttl_s=PRESS_TTL_S) == (
        "Invalid input. Press 1 for Sales, 2 for Support or 5 for Orders."
    )
    # Only the key proven unbound goes: 5 may still be bound (it is until proven otherwise).
    assert served(directory) == ["1", "2", "5"]
    assert answer(directory, press("5"), press_ttl_s=PRESS_TTL_S) == (
        "Invalid input. Press 1 for Sales or 2 for Support."
    )


def test_every_service_offering_the_key_loses_it() -> None:
    clock = Clock()
    directory = ServiceDirectory(clock=clock)
    directory.update(announce("orders", ["4"], instance="a"))
    directory.update(announce("orders", ["4"], instance="b"))
    directory.update(announce("returns", ["4", "6"]))
    clock.now = 30.0
    assert directory.withdraw("4", unless_heard_within=PRESS_TTL_S) == ["orders", "returns"]
    assert directory.offers() == [Offer("6", "Returns")]
    assert directory.withdraw("4", unless_heard_within=PRESS_TTL_S) == []


def test_a_service_heard_within_the_press_ttl_keeps_its_key() -> None:
    # It may have bound the key just after the press was routed to the menu: the press
    # proves nothing about it, and the caller is told the key that now works.
    clock = Clock()
    directory = ServiceDirectory(clock=clock)
    directory.update(announce("billing", ["3"]))
    clock.now = PRESS_TTL_S - 0.5
    assert answer(directory, press("3"), press_ttl_s=PRESS_TTL_S) == (
        "Invalid input. Press 3 for Billing."
    )
    clock.now = PRESS_TTL_S + 0.5
    assert answer(directory, press("3"), press_ttl_s=PRESS_TTL_S) == menu.NOTHING_SERVED


def test_the_next_announcement_offers_the_key_again() -> None:
    clock = Clock()
    directory = ServiceDirectory(clock=clock)
    orders = announce("orders", ["4"])
    directory.update(orders)
    clock.now = 70.0
    directory.withdraw("4", unless_heard_within=PRESS_TTL_S)
    assert served(directory) == []
    directory.update(orders)  # it came back: bound again, then announced
    assert served(directory) == ["4"]


def test_a_press_of_a_key_nobody_offers_changes_nothing() -> None:
    clock = Clock()
    directory = ServiceDirectory(clock=clock)
    directory.update(announce("sales", ["1"]))
    clock.now = 70.0
    assert directory.withdraw("9", unless_heard_within=PRESS_TTL_S) == []
    assert directory.offers() == [Offer("1", "Sales")]


def test_a_withdrawn_key_does_not_make_the_service_live_longer() -> None:
    clock = Clock()
    directory = ServiceDirectory(clock=clock)
    directory.update(announce("orders", ["4", "5"], valid_for_s=90))
    clock.now = 60.0
    directory.withdraw("4", unless_heard_within=PRESS_TTL_S)
    clock.now = 91.0
    assert directory.offers() == []


def test_retired_forgets_every_instance_of_that_service_only() -> None:
    directory = ServiceDirectory()
    directory.update(announce("orders", ["4"], instance="a"))
    directory.update(announce("orders", ["4"], instance="b"))
    directory.update(announce("sales", ["1"]))
    # Sent by the retire command, which is no instance of the service.
    directory.update(announce("orders", [], instance="retire-command", status="retired"))
    assert directory.offers() == [Offer("1", "Sales")]


def test_retired_travels_on_the_wire() -> None:
    body = announce("orders", [], status="retired").model_dump_json()
    assert parse_announcement(body).status == "retired"
    schema = ServiceAnnouncement.model_json_schema()
    assert "retired" in schema["properties"]["status"]["enum"]


async def test_the_menu_handler_answers_with_what_the_directory_offers() -> None:
    service = menu.build(Settings())
    assert service.directory is not None
    service.directory.update(announce("sales", ["1"]))
    service.directory.update(announce("support", ["2"]))
    assert await service.handler(press("9")) == [Say(text=INVALID_INPUT)]
    service.directory.update(announce("sales", [], status="retired"))
    assert await service.handler(press("9")) == [Say(text="Invalid input. Press 2 for Support.")]
