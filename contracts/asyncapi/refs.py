"""`$ref` pointers from one part of the document to another (or to a schema file)."""

from __future__ import annotations


def ref(pointer: str) -> dict[str, str]:
    return {"$ref": pointer}


def channel_ref(channel: str) -> dict[str, str]:
    return ref(f"#/channels/{channel}")


def component_messages(*names: str) -> dict[str, dict[str, str]]:
    """A channel's `messages`: the component messages it carries, under the same names."""
    return {name: ref(f"#/components/messages/{name}") for name in names}


def channel_messages(channel: str, *names: str) -> list[dict[str, str]]:
    """An operation's `messages`: AsyncAPI 3.0 wants them as messages of its channel."""
    return [ref(f"#/channels/{channel}/messages/{name}") for name in names]
