"""One example body per message, made by the models, so an example holds what they accept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from contracts.control import Discover, ServiceAnnouncement
from contracts.events import CallEnded, CallStarted, GatheredInput, KeyPress
from contracts.replies import Reply, Say, SetInstructions

# A fixed instant and fixed ids: the document is committed, so it must not change per run.
AT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
PRESS_ID = "9b1c6f0e4d7a4e8f8a53c2d1e0f9a8b7"
CALL: dict[str, Any] = {"call_id": "call-42", "reply_to": "edge-7f3a", "source": "videosdk"}


def examples() -> dict[str, dict[str, Any]]:
    """The example bodies, by component message name (the dead letter has none)."""
    models = {**_event_examples(), **_service_examples()}
    return {name: model.model_dump(mode="json") for name, model in models.items()}


def _event_examples() -> dict[str, BaseModel]:
    return {
        "keyPress": KeyPress(
            event_id=PRESS_ID,
            **CALL,
            key="1",
            sequence=1,
            pressed_at=AT,
            received_at=AT.replace(microsecond=12000),
            duration_ms=120,
            source_payload={"payload": {"number": 1}},
        ),
        "callStarted": CallStarted(
            event_id="0a1b2c3d4e5f40718293a4b5c6d7e8f9",
            **CALL,
            started_at=AT,
            caller="+15550100",
        ),
        "callEnded": CallEnded(
            event_id="1f2e3d4c5b6a47988796a5b4c3d2e1f0", **CALL, ended_at=AT, reason="hangup"
        ),
        "gatheredInput": GatheredInput(
            event_id="5e6f708192a34b5c6d7e8f90a1b2c3d4",
            **CALL,
            name="account",
            digits="4711",
            reason="finish_key",
            sequence=7,
            started_at=AT,
            ended_at=AT.replace(second=9),
        ),
    }


def _service_examples() -> dict[str, BaseModel]:
    return {
        "reply": Reply(
            reply_id="c0ffee00c0ffee00c0ffee00c0ffee00",
            call_id=CALL["call_id"],
            in_reply_to=PRESS_ID,  # it answers the key press above
            sequence=1,
            service="sales",
            sent_at=AT.replace(microsecond=30000),
            actions=[
                SetInstructions(instructions="You are a Sales Representative."),
                Say(text="Routing you to Sales..."),
            ],
        ),
        "announcement": ServiceAnnouncement(
            service="sales",
            instance="3c4d5e6f7a8b49c0d1e2f3a4b5c6d7e8",
            label="Sales",
            keys=["1"],
            valid_for_s=90.0,
        ),
        "discover": Discover(),
    }
