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

from contracts import topology as t
from contracts.events import CallEnded, CallEvent, input_routing_key
from contracts.keys import key_of_word, key_routing_key
from contracts.replies import Action
from services.runtime.directory import ServiceDirectory

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


def inputs(*names: str) -> list[Binding]:
    """Digits gathered under these names (see the Gather reply action)."""
    return [Binding(t.EVENTS_EXCHANGE, input_routing_key(name)) for name in names]


def all_events() -> list[Binding]:
    """Every event the edge publishes, presses and call lifecycle alike."""
    return [Binding(t.EVENTS_EXCHANGE, t.ALL_EVENTS_BINDING)]


@dataclass(frozen=True, kw_only=True)
class ConsumerService:
    name: str
    bindings: Sequence[Binding]
    handler: Handler
    # Interactive services act while the caller waits: stale presses and presses of
    # calls that have ended are not acted on.
    interactive: bool = True
    # How the menu names this service ("Press 3 for Billing"); defaults to the name.
    label: str = ""
    # Set by a service that wants to know what the others serve (the menu).
    directory: ServiceDirectory | None = None
    accepts: tuple[type[CallEvent], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "accepts", accepted_types(self.handler))
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").title())

    @property
    def queue_bindings(self) -> list[Binding]:
        """Every binding of the service's queue: its own and, for an interactive service,
        the end of every call, so that its late presses are dropped, not answered."""
        call_ended = [Binding(t.EVENTS_EXCHANGE, CallEnded.ROUTING_KEY)]
        return [*self.bindings, *(call_ended if self.interactive else [])]

    @property
    def served_keys(self) -> list[str]:
        """The keys bound on dtmf.routes: what this service answers."""
        return [
            key_of_word(b.routing_key.removeprefix("dtmf."))
            for b in self.bindings
            if b.exchange == t.ROUTES_EXCHANGE
        ]

    @property
    def served_inputs(self) -> list[str]:
        prefix = input_routing_key("")
        return [
            b.routing_key.removeprefix(prefix)
            for b in self.bindings
            if b.exchange == t.EVENTS_EXCHANGE and b.routing_key.startswith(prefix)
        ]


def accepted_types(handler: Handler) -> tuple[type[CallEvent], ...]:
    """The event classes named by the handler's parameter annotation (a class or a union)."""
    params = list(inspect.signature(handler).parameters)
    if len(params) != 1:
        raise TypeError(f"handler {handler!r} must take exactly one message parameter")
    hints = typing.get_type_hints(handler)
    if params[0] not in hints:
        raise TypeError(f"handler {handler!r} must annotate its message parameter")
    hint = hints[params[0]]
    candidates = typing.get_args(hint) or (hint,)
    if not all(isinstance(c, type) and issubclass(c, CallEvent) for c in candidates):
        raise TypeError(f"handler {handler!r} must take events from contracts, not {hint!r}")
    return tuple(candidates)
