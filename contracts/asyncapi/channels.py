"""`channels`: the routing-key patterns publishers use, then the queues consumers read.

See `bindings` for how either maps onto an AMQP channel binding.
"""

from __future__ import annotations

from typing import Any

from contracts import topology as t
from contracts.asyncapi.bindings import bound, exchange, queue, shared_queue
from contracts.asyncapi.messages import EVENT_MESSAGES
from contracts.asyncapi.parameters import (
    EDGE_PARAMETER,
    KEY_PARAMETER,
    NAME_PARAMETER,
    SERVICE_PARAMETER,
)
from contracts.asyncapi.refs import component_messages
from contracts.control import ANNOUNCE_ROUTING_KEY, CONTROL_EXCHANGE, DISCOVER_ROUTING_KEY
from contracts.events import CallEnded, CallStarted, input_routing_key

EVENTS = t.EVENTS_EXCHANGE


def channels() -> dict[str, Any]:
    return {**_event_channels(), **_delivery_channels(), **_queue_channels()}


def _channel(
    address: str | None,
    *messages: str,
    bindings: dict[str, Any],
    title: str | None = None,
    description: str | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Channel Object. `address` is always there: null is a channel with no fixed address
    (a fanout exchange, a server-named queue)."""
    channel: dict[str, Any] = {"address": address}
    optional = {"title": title, "description": description, "parameters": parameters}
    channel |= {field: value for field, value in optional.items() if value is not None}
    channel["messages"] = component_messages(*messages)
    channel["bindings"] = bindings
    return channel


def _on_events() -> dict[str, Any]:
    return exchange(EVENTS, "topic")


def _event_channels() -> dict[str, Any]:
    """What the edge publishes on the events exchange, and the patterns bound to it there."""
    return {
        "keyPress": _channel(
            "dtmf.{key}",
            "keyPress",
            title=f"Key presses on {EVENTS}",
            description=f"The edge publishes every key press to `{EVENTS}` (topic) with "
            f"routing key `dtmf.<word>`. `{t.ROUTES_EXCHANGE}` receives them through its "
            f"`{t.ROUTES_BINDING}` binding.",
            parameters={"key": KEY_PARAMETER},
            bindings=_on_events(),
        ),
        "collectedPress": _channel(
            "collect.{key}",
            "keyPress",
            title=f"Collected presses on {EVENTS}",
            description="A press that a gather collected: it goes to the call log (it "
            "stays out of `dtmf.#`, so no key service acts on it). Same words as dtmf.<word>.",
            parameters={"key": KEY_PARAMETER},
            bindings=_on_events(),
        ),
        "callStarted": _channel(CallStarted.ROUTING_KEY, "callStarted", bindings=_on_events()),
        "callEnded": _channel(
            CallEnded.ROUTING_KEY,
            "callEnded",
            description="Every interactive service queue binds it, to drop the late "
            "presses of a call that has ended.",
            bindings=_on_events(),
        ),
        "gatheredInput": _channel(
            input_routing_key("{name}"),
            "gatheredInput",
            description="Services bind `input.<name>` to receive the digits gathered "
            "under that name.",
            parameters={"name": NAME_PARAMETER},
            bindings=_on_events(),
        ),
        "allKeyPresses": _channel(
            t.ROUTES_BINDING,
            "keyPress",
            title=f"Every key press on {EVENTS}",
            description=f"The binding pattern `{t.ROUTES_BINDING}` on `{EVENTS}`: every key "
            f"press (not the collected ones), which `{t.ROUTES_EXCHANGE}` receives through it.",
            bindings=_on_events(),
        ),
        "allEvents": _channel(
            t.ALL_EVENTS_BINDING,
            *EVENT_MESSAGES,
            title=f"Everything on {EVENTS}",
            description=f"The binding pattern `{t.ALL_EVENTS_BINDING}` on `{EVENTS}`: "
            "every event the edge publishes (the call log binds it).",
            bindings=_on_events(),
        ),
    }


def _delivery_channels() -> dict[str, Any]:
    """The exchanges past the events one: routes to services, replies, dead letters, control."""
    return {
        "routedKeyPress": _channel(
            "dtmf.{key}",
            "keyPress",
            title=f"Key presses on {t.ROUTES_EXCHANGE}",
            description=f"Consumer services bind the keys they answer here (sales: "
            f"`dtmf.1`). A press that no queue binds goes to the alternate exchange "
            f"`{t.UNROUTED_EXCHANGE}`, so binding a key removes it from the invalid-input set.",
            parameters={"key": KEY_PARAMETER},
            bindings=exchange(
                t.ROUTES_EXCHANGE,
                "topic",
                arguments={"alternate-exchange": t.UNROUTED_EXCHANGE},
                bindings=[bound(EVENTS, t.ROUTES_BINDING)],
            ),
        ),
        "unroutedKeyPress": _channel(
            "dtmf.{key}",
            "keyPress",
            title=f"Unhandled key presses on {t.UNROUTED_EXCHANGE}",
            description=f"Fanout, the alternate exchange of `{t.ROUTES_EXCHANGE}`: every "
            "key press no service binds, routing key unchanged. The menu consumes it.",
            parameters={"key": KEY_PARAMETER},
            bindings=exchange(t.UNROUTED_EXCHANGE, "fanout"),
        ),
        "replies": _channel(
            "{edgeId}",
            "reply",
            title=f"Replies on {t.REPLIES_EXCHANGE}",
            description=f"Direct exchange `{t.REPLIES_EXCHANGE}`, routing key = the edge "
            "instance id (the event's `reply_to`). Published mandatory: a reply that meets no "
            "queue comes back and is retried until the edge is back or would have given up.",
            parameters={"edgeId": EDGE_PARAMETER},
            bindings=exchange(t.REPLIES_EXCHANGE, "direct"),
        ),
        "deadLetters": _channel(
            None,
            "deadLetter",
            title=f"Dead letters on {t.DEAD_EXCHANGE}",
            description=f"Fanout `{t.DEAD_EXCHANGE}`: the dead-letter exchange of every "
            "service queue, and where a service publishes a message it refuses, with the "
            "reason. The routing key is the original's.",
            bindings=exchange(t.DEAD_EXCHANGE, "fanout"),
        ),
        "serviceAnnounce": _channel(
            ANNOUNCE_ROUTING_KEY, "announcement", bindings=exchange(CONTROL_EXCHANGE, "topic")
        ),
        "serviceDiscover": _channel(
            DISCOVER_ROUTING_KEY, "discover", bindings=exchange(CONTROL_EXCHANGE, "topic")
        ),
    }


def _queue_channels() -> dict[str, Any]:
    return {
        "serviceQueue": _channel(
            t.service_queue("{service}"),
            "keyPress",
            "gatheredInput",
            "callEnded",
            title="An interactive service's queue",
            description="Durable quorum queue, one per service (sales, support, menu, "
            "...), shared by its replicas (single active consumer keeps per-call order). "
            "`x-message-ttl` is DTMF_PRESS_TTL_MS and `x-delivery-limit` DTMF_DELIVERY_LIMIT "
            "of the deployment (defaults shown): declare it with the same arguments, as "
            "RabbitMQ refuses a redeclaration that differs. Bound to the service's keys "
            f"`dtmf.<word>` on `{t.ROUTES_EXCHANGE}`, its inputs `input.<name>` and "
            f"`{CallEnded.ROUTING_KEY}` on `{EVENTS}`; the menu binds `{t.UNROUTED_EXCHANGE}`.",
            parameters={"service": SERVICE_PARAMETER},
            bindings=shared_queue(
                t.service_queue("{service}"),
                arguments=t.service_queue_arguments(interactive=True),
                bindings=[
                    bound(t.ROUTES_EXCHANGE, "dtmf.{key}"),
                    bound(t.UNROUTED_EXCHANGE, ""),
                    bound(EVENTS, input_routing_key("{name}")),
                    bound(EVENTS, CallEnded.ROUTING_KEY),
                ],
            ),
        ),
        "calllogQueue": _channel(
            t.service_queue("calllog"),
            *EVENT_MESSAGES,
            title="The call log's queue",
            description="A non-interactive service queue: no TTL (it keeps everything), "
            f"bound to `{t.ALL_EVENTS_BINDING}` on `{EVENTS}`; the call log scales out.",
            bindings=shared_queue(
                t.service_queue("calllog"),
                arguments=t.service_queue_arguments(interactive=False),
                bindings=[bound(EVENTS, t.ALL_EVENTS_BINDING)],
            ),
        ),
        "replyQueue": _channel(
            t.reply_queue("{edgeId}"),
            "reply",
            title="An edge's reply queue",
            description="Exclusive to the edge's connection (declared again after a "
            f"reconnect), bound to `{t.REPLIES_EXCHANGE}` with the edge id.",
            parameters={"edgeId": EDGE_PARAMETER},
            bindings=queue(
                t.reply_queue("{edgeId}"),
                durable=False,
                exclusive=True,
                auto_delete=False,
                arguments=dict(t.REPLY_QUEUE_ARGUMENTS),
                bindings=[bound(t.REPLIES_EXCHANGE, "{edgeId}")],
            ),
        ),
        "deadQueue": _channel(
            t.DEAD_QUEUE,
            "deadLetter",
            title="Dead letters",
            description="Durable quorum queue bound to the dead-letter exchange; "
            "`dtmf-bus dead-letters` lists and replays it.",
            bindings=shared_queue(
                t.DEAD_QUEUE,
                arguments={"x-queue-type": "quorum"},
                bindings=[bound(t.DEAD_EXCHANGE, "")],
            ),
        ),
        "controlSubscription": _channel(
            None,
            "announcement",
            "discover",
            title=f"A control subscription on {CONTROL_EXCHANGE}",
            description="A server-named, exclusive, auto-delete queue per subscription: "
            f"`{ANNOUNCE_ROUTING_KEY}` for a service that keeps a directory (the menu), "
            f"`{DISCOVER_ROUTING_KEY}` for a service that announces itself.",
            bindings=queue(
                "",
                durable=False,
                exclusive=True,
                auto_delete=True,
                arguments={},
                bindings=[
                    bound(CONTROL_EXCHANGE, ANNOUNCE_ROUTING_KEY),
                    bound(CONTROL_EXCHANGE, DISCOVER_ROUTING_KEY),
                ],
            ),
        ),
    }
