"""Which failures while an edge attaches to the broker it retries (the broker went away) and
which it raises (a refusal or a bug): a pausing node must not stop a call from starting."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from aio_pika.abc import AbstractRobustConnection
from aiormq.exceptions import ChannelInvalidStateError, ChannelPreconditionFailed

from services.edge.bus import went_away


def connection(*, up: bool, transport_closed: bool) -> AbstractRobustConnection:
    connected = asyncio.Event()
    if up:
        connected.set()
    link: Any = SimpleNamespace(
        connected=connected,
        transport=SimpleNamespace(connection=SimpleNamespace(is_closed=transport_closed)),
    )
    return cast(AbstractRobustConnection, link)


def test_a_channel_refused_on_a_connection_that_just_closed_is_retried() -> None:
    dropped = connection(up=True, transport_closed=True)
    assert went_away(RuntimeError("<Connection ...> closed"), dropped)
    reconnecting = connection(up=False, transport_closed=False)
    assert went_away(RuntimeError("<Connection ...> closed"), reconnecting)


def test_a_runtime_error_on_a_live_connection_is_raised() -> None:
    live = connection(up=True, transport_closed=False)
    assert not went_away(RuntimeError("a bug"), live)


def test_a_refused_declaration_is_raised_and_a_closed_channel_retried() -> None:
    live = connection(up=True, transport_closed=False)
    assert not went_away(ChannelPreconditionFailed("inequivalent arg"), live)
    assert went_away(ChannelInvalidStateError("closed"), live)
