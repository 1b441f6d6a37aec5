"""What tests/integration/test_register_mode.py checks the edge pod with, on top of the local
stand-ins of VideoSDK's registry and rooms it shares with the benchmark (tools/videosdk_local,
which says what they leave unverified): the pod's metrics, and calls that have been answered.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tools.videosdk_local.hub import RoomHub
from tools.videosdk_local.registry import LocalRegistry
from tools.videosdk_local.support import get

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int | None) -> Samples:
    status, text = await get(port, "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def replied(hub: RoomHub, jobs: list[str], count: int) -> Callable[[], bool]:
    """Every call of `jobs` has heard `count` things (the greeting included)."""
    return lambda: all(len(hub.rooms[f"room-{job}"].said) >= count for job in jobs)


def calls_state(hub: RoomHub, registry: LocalRegistry, jobs: list[str]) -> str:
    """Where each job's call got to, for a failure's message: its room as the hub saw it, and
    what the worker told the registry about the job (a job that failed to launch says why)."""
    lines = []
    for job in jobs:
        room = hub.rooms.get(f"room-{job}")
        seen = (
            "no room connected"
            if room is None
            else f"pid {room.pid}, subscribed {room.subscribed}, said {room.said}"
        )
        updates = [
            (data.get("status"), data.get("error"))
            for data in registry.received
            if data.get("type") == "job_update" and data.get("job_id") == job
        ]
        lines.append(f"job {job}: {seen}; job updates {updates}")
    return "\n".join(lines)
