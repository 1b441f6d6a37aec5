"""How a consumer service is described: a name, its bindings and one typed async handler.

async def handle(press: KeyPress) -> list[Action]:
    return [Say(text="Routing you to Sales...")]

service = ConsumerService(name="sales", bindings=keys("1"), handler=handle)
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from contracts import topology as t
from contracts.events import CallEvent
from contracts.keys import key_routing_key
from contracts.replies import Action

Handler = Callable[[Any], Awaitable[Sequence[Action] | None]]


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str = ""


def keys(*pressed: str) -> list[Binding]:
    """Bind key presses on `dtmf.routes`; a bound key is no longer 'unhandled'."""
    return [Binding(t.ROUTES_EXCHANGE, key_routing_key(key)) for key in pressed]


def unrouted() -> list[Binding]:
    """Every key press that no service binds (the alternate exchange of `dtmf.routes`)."""
    return [Binding(t.UNROUTED_EXCHANGE)]


def all_events() -> list[Binding]:
    """Every event the edge publishes, presses and call lifecycle alike."""
    return [Binding(t.EVENTS_EXCHANGE, t.ALL_EVENTS_BINDING)]


@dataclass(frozen=True, kw_only=True)
class ConsumerService:
    name: str
    bindings: Sequence[Binding]
    handler: Handler
    # Interactive services act while the caller waits: their queue expires stale presses.
    interactive: bool = True
    _adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_adapter", TypeAdapter(message_type_of(self.handler)))

    def decode(self, body: bytes) -> CallEvent:
        event: CallEvent = self._adapter.validate_json(body)
        return event


def message_type_of(handler: Handler) -> Any:
    """The annotation of the handler's single parameter: what the runner validates into."""
    params = list(inspect.signature(handler).parameters)
    if len(params) != 1:
        raise TypeError(f"handler {handler!r} must take exactly one message parameter")
    hints = typing.get_type_hints(handler, include_extras=True)
    if params[0] not in hints:
        raise TypeError(f"handler {handler!r} must annotate its message parameter")
    return hints[params[0]]
