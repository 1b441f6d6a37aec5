"""Deliveries as a consumer sees them, recording the frames their settlement would send."""

from __future__ import annotations


class Wire:
    """What reached the channel, in order: (frame, delivery tag, multiple)."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, int, bool]] = []
        self.channels: list[object] = []  # the channel of each ack


class Delivery:
    def __init__(self, wire: Wire, channel: object, tag: int) -> None:
        self._wire = wire
        self.channel = channel
        self.delivery_tag = tag

    async def ack(self, multiple: bool = False) -> None:
        self._wire.frames.append(("ack", self.delivery_tag, multiple))
        self._wire.channels.append(self.channel)

    async def nack(self, multiple: bool = False, requeue: bool = True) -> None:
        self._wire.frames.append(("nack", self.delivery_tag, multiple))
