"""The edge's reply-queue designs under measurement (see bench.replyqueues)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

EXPIRES_MS = 60_000  # today's REPLY_QUEUE_EXPIRES_MS in services.edge.bus
POD_PREFIX = "dtmf.pod."


@dataclass(frozen=True)
class Design:
    name: str
    label: str
    durable: bool = False
    exclusive: bool = False
    arguments: Mapping[str, Any] = field(default_factory=dict)
    shared: bool = False  # calls bind on their pod's queue instead of declaring one
    queue: bool = True  # False: the reference (no reply queue at all)

    @property
    def handles_per_call(self) -> int:
        """File handles RabbitMQ counts for a live call, at most (measured: 1 for the socket,
        3 more for a quorum queue; a classic queue opens files only once it pages)."""
        quorum = self.queue and not self.shared and self.arguments.get("x-queue-type") == "quorum"
        return 4 if quorum else 2

    @property
    def expires_ms(self) -> int | None:
        """When the broker deletes a queue its call left, if it waits for that."""
        value = self.arguments.get("x-expires")
        return int(value) if value is not None and not self.shared else None


def designs(expires_ms: int = EXPIRES_MS) -> dict[str, Design]:
    expiring = {"x-expires": expires_ms}
    quorum = {"x-queue-type": "quorum", **expiring}
    return {
        d.name: d
        for d in (
            Design("ref", "ref: connection only", queue=False),
            Design("quorum", "(a) quorum per call", durable=True, arguments=quorum),
            Design("classic", "(b) classic durable per call", durable=True, arguments=expiring),
            Design("exclusive", "(b') classic exclusive per call", exclusive=True),
            Design("pod", "(c) quorum per pod, bound", durable=True, arguments=quorum, shared=True),
        )
    }
