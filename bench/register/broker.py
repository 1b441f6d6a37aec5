"""What the broker holds for the register phase's vhost: the node's memory (it has no
per-vhost figure, so the bench's own vhost is the only thing that changes while it
measures), CPU and the vhost's connections, channels and queues.

Two memory figures, because they disagree: Erlang's own accounting (`rabbitmqctl status`)
charges each connection some 3.9 MB of binaries, while the node's RSS grows by far less: the
figure a node's memory limit and its pod's are measured against is RSS."""

from __future__ import annotations

import asyncio
import json
import statistics
from dataclasses import dataclass

from bench.broker import rabbitmqctl
from bench.procstat import cpu_seconds, find_broker_pid, rss_bytes

MEMORY_READS = 3  # the node's memory moves with its GC: the median of a few reads


@dataclass(frozen=True)
class BrokerSample:
    erlang_bytes: int
    binary_bytes: int  # of erlang_bytes
    rss_bytes: int  # 0 when the node's process is not on this machine
    cpu_s: float
    connections: int
    channels: int
    queues: int


def _memory() -> tuple[int, int]:
    memory = json.loads(rabbitmqctl("-q", "status", "--formatter", "json"))["memory"]
    return int(memory["total"]["erlang"]), int(memory["binary"])


def _sample(vhost: str, port: int) -> BrokerSample:
    pid = find_broker_pid(port)
    reads = [_memory() for _ in range(MEMORY_READS)]
    rows = rabbitmqctl("-q", "list_connections", "--no-table-headers", "vhost", "channels")
    ours = [line.split() for line in rows.splitlines() if line.split()[:1] == [vhost]]
    queues = rabbitmqctl("-q", "list_queues", "-p", vhost, "--no-table-headers", "name")
    return BrokerSample(
        erlang_bytes=int(statistics.median(r[0] for r in reads)),
        binary_bytes=int(statistics.median(r[1] for r in reads)),
        rss_bytes=(rss_bytes(pid) or 0) if pid else 0,
        cpu_s=(cpu_seconds(pid) or 0.0) if pid else 0.0,
        connections=len(ours),
        channels=sum(int(row[1]) for row in ours),
        queues=sum(1 for line in queues.splitlines() if line.strip()),
    )


async def broker_sample(vhost: str, port: int) -> BrokerSample:
    """The node listening on `port` of this machine, and `vhost` on it."""
    return await asyncio.to_thread(_sample, vhost, port)
