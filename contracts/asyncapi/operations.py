"""`operations`: who sends and who receives on which channel; tags name the application."""

from __future__ import annotations

from typing import Any

from contracts.asyncapi.bindings import consume, publish
from contracts.asyncapi.messages import EVENT_MESSAGES
from contracts.asyncapi.refs import channel_messages, channel_ref


def operations() -> dict[str, Any]:
    return {**_edge_operations(), **_service_operations(), **_control_operations()}


def _operation(
    action: str,
    channel: str,
    *messages: str,
    app: str,
    summary: str,
    bindings: dict[str, Any],
    reply: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An Operation Object on `channel`, for `messages` of that channel; `app` is a tag."""
    operation: dict[str, Any] = {
        "action": action,
        "channel": channel_ref(channel),
        "summary": summary,
        "tags": [{"name": app}],
        "messages": channel_messages(channel, *messages),
        "bindings": bindings,
    }
    if reply is not None:
        operation["reply"] = reply
    return operation


def _edge_operations() -> dict[str, Any]:
    def send(channel: str, message: str, summary: str) -> dict[str, Any]:
        return _operation(
            "send", channel, message, app="edge", summary=summary, bindings=publish(mandatory=False)
        )

    return {
        "publishKeyPress": send(
            "keyPress",
            "keyPress",
            "The edge publishes a key press (publisher confirms, persistent).",
        ),
        "publishCollectedPress": send(
            "collectedPress", "keyPress", "The edge publishes a press a gather collected."
        ),
        "publishCallStarted": send(
            "callStarted", "callStarted", "The edge publishes the start of a call."
        ),
        "publishCallEnded": send("callEnded", "callEnded", "The edge publishes the end of a call."),
        "publishGatheredInput": send(
            "gatheredInput", "gatheredInput", "The edge publishes the digits a gather collected."
        ),
        "receiveReplies": _operation(
            "receive",
            "replyQueue",
            "reply",
            app="edge",
            summary="The edge applies replies to the call session they name.",
            bindings=consume(ack=True),
        ),
    }


def _reply_to_edge() -> dict[str, Any]:
    """An Operation Reply Object: a service answers on the edge named by the event."""
    return {
        "address": {
            "description": "The event's `reply_to`: the edge that owns the call.",
            "location": "$message.payload#/reply_to",
        },
        "channel": channel_ref("replies"),
        "messages": channel_messages("replies", "reply"),
    }


def _service_operations() -> dict[str, Any]:
    return {
        "handleEvents": _operation(
            "receive",
            "serviceQueue",
            "keyPress",
            "gatheredInput",
            "callEnded",
            app="service",
            summary="An interactive service handles the presses and inputs it binds, acks "
            "after handling (idempotent on event_id), and replies to the call's edge.",
            bindings=consume(ack=True),
            reply=_reply_to_edge(),
        ),
        "sendReply": _operation(
            "send",
            "replies",
            "reply",
            app="service",
            summary="A service sends a reply to the edge that owns the call (mandatory).",
            bindings=publish(mandatory=True),
        ),
        "logEvents": _operation(
            "receive",
            "calllogQueue",
            *EVENT_MESSAGES,
            app="calllog",
            summary="The call log writes every event as a JSON line.",
            bindings=consume(ack=True),
        ),
        "deadLetter": _operation(
            "send",
            "deadLetters",
            "deadLetter",
            app="service",
            summary="A service dead-letters a message it can never handle, with the reason.",
            bindings=publish(mandatory=False),
        ),
        "readDeadLetters": _operation(
            "receive",
            "deadQueue",
            "deadLetter",
            app="dead-letters",
            summary="`dtmf-bus dead-letters` lists and replays dead letters.",
            bindings=consume(ack=True),
        ),
    }


def _control_operations() -> dict[str, Any]:
    """Announce and discover: transient, and read without acks (a lost one is sent again)."""
    return {
        "announce": _operation(
            "send",
            "serviceAnnounce",
            "announcement",
            app="service",
            summary="A service announces what it serves, at start, every interval, and "
            "when going down.",
            bindings=publish(mandatory=False, persistent=False),
        ),
        "discover": _operation(
            "send",
            "serviceDiscover",
            "discover",
            app="menu",
            summary="A menu that starts asks every service to announce itself.",
            bindings=publish(mandatory=False, persistent=False),
        ),
        "learnServices": _operation(
            "receive",
            "controlSubscription",
            "announcement",
            app="menu",
            summary="The menu keeps a directory of what is served, for its prompt.",
            bindings=consume(ack=False),
        ),
        "answerDiscover": _operation(
            "receive",
            "controlSubscription",
            "discover",
            app="service",
            summary="A service that serves keys or inputs announces itself when asked.",
            bindings=consume(ack=False),
        ),
    }
