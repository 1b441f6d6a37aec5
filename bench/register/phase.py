"""The register phase: the edge pod as Kubernetes runs it, N calls in N job processes.

1. the pod (bench.register.pod) starts, registers with the local registry and is ready;
2. one call, then N-1 at once, are assigned to it as fast as the registry protocol goes
   (each after the worker said it is available): per call, the time from its assignment
   until its DTMF PubSub is subscribed (presses can be taken) and until the caller hears the
   greeting; the pod's CPU per call start in the burst;
3. with every call up: RSS and PSS of each job process and the rest of the pod; the
   broker's memory and its objects (connections, channels, queues) per live call;
4. every caller presses 1 at once: press to reply, as the caller hears it;
5. every call hangs up; the worker reports each job completed; the broker's memory again;
6. the pod is stopped (SIGTERM: it drains) and its exit status kept.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from bench.errors import BenchError
from bench.processes import Proc, Processes
from bench.register.broker import BrokerSample, broker_sample
from bench.register.memory import Footprint, pod_cpu_s, pod_processes
from bench.stats import percentile
from services.edge.videosdk.agent import DEFAULT_GREETING
from tools.videosdk_local.hub import RoomHub
from tools.videosdk_local.registry import LocalRegistry
from tools.videosdk_local.support import get, serving

log = logging.getLogger(__name__)

# Bounds for a busy machine, not targets: the SDK allows a job process 30 s to start.
STEP_S = 180.0


def _ms(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(percentile(ordered, 50) * 1000, 1),
        "p95": round(percentile(ordered, 95) * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


class Clocked:
    """When each call was assigned; the hub stamps when it reached each step."""

    def __init__(self, hub: StampedHub) -> None:
        self.hub = hub
        self.assigned: dict[str, float] = {}

    def room(self, job: str) -> Any:
        return self.hub.rooms.get(f"room-{job}")

    def all(self, test: Callable[[Any], bool]) -> Callable[[], bool]:
        return lambda: all((r := self.room(j)) is not None and test(r) for j in self.assigned)


async def _wait(hub: RoomHub, done: Callable[[], bool], what: str) -> None:
    try:
        await hub.until(done, timeout=STEP_S, what=what)
    except AssertionError as error:
        raise BenchError(str(error)) from None


async def _start_pod(
    processes: Processes, registry_at: str, hub_at: str, calls: int
) -> tuple[Proc, int]:
    pod = await processes.spawn(
        "edge-pod",
        "bench.register.pod",
        "--registry",
        f"ws://{registry_at}/",
        "--hub",
        f"ws://{hub_at}",
        worker=True,
        env={"DTMF_EDGE_MAX_CALLS": str(calls)},
    )
    port = int((await pod.next_event("up", timeout=STEP_S))["port"])
    processes.meter.track("edge-pod", pod.proc.pid)
    return pod, port


async def _assign(registry: LocalRegistry, clocked: Clocked, jobs: list[str]) -> None:
    """Each job assigned once the worker said it is available, as VideoSDK's registry does."""
    for job in jobs:
        answer = await registry.availability(job)
        if not answer.get("available"):
            raise BenchError(f"the pod refused call {job}: {answer.get('error')}")
        clocked.assigned[job] = time.monotonic()
        await registry.assign(job)
    up = clocked.all(lambda r: DEFAULT_GREETING in r.said)
    await _wait(clocked.hub, up, f"{len(clocked.assigned)} calls up")


def _start_times(clocked: Clocked, jobs: list[str]) -> dict[str, Any]:
    subscribed, greeted = [], []
    for job in jobs:
        seen, at = clocked.hub.stamps[f"room-{job}"], clocked.assigned[job]
        subscribed.append(seen["subscribed"] - at)
        greeted.append(seen["greeted"] - at)
    return {"to_subscribed_ms": _ms(subscribed), "to_greeting_ms": _ms(greeted)}


async def run_register(*, calls: int, processes: Processes, url: str, port: int) -> dict[str, Any]:
    """The phase's figures (see the module's docstring); `url` is the run's vhost on the
    broker listening on `port`."""
    vhost = unquote(urlsplit(url).path[1:])
    registry, hub = LocalRegistry(timeout_s=STEP_S), StampedHub()
    async with (
        serving([web.get("/agent", registry.agent)]) as registry_at,
        serving([web.get("/rooms/{room}", hub.room)]) as hub_at,
    ):
        pod, http_port = await _start_pod(processes, registry_at, hub_at, calls)
        await registry.availability("0")  # answered once the worker is registered
        if await get(http_port, "/readyz") != (200, "ready\n"):
            raise BenchError("the pod registered but is not ready")
        idle = _footprints(pod.proc.pid)
        before = await broker_sample(vhost, port)
        log.info("register: pod ready (%s processes), %d calls", idle["processes"], calls)

        clocked = Clocked(hub)
        await _assign(registry, clocked, ["1"])  # alone: an idle process is waiting for it
        burst = [str(n) for n in range(2, calls + 1)]
        cpu0, started = pod_cpu_s(pod.proc.pid), time.monotonic()
        await _assign(registry, clocked, burst)
        burst_s, burst_cpu_s = time.monotonic() - started, pod_cpu_s(pod.proc.pid) - cpu0
        live = await broker_sample(vhost, port)
        busy = _footprints(pod.proc.pid)

        pressed = time.monotonic()
        for job in clocked.assigned:
            await clocked.room(job).press(1)
        await _wait(hub, clocked.all(lambda r: len(r.said) >= 2), "every press answered")
        replies = [hub.stamps[f"room-{j}"]["replied"] - pressed for j in clocked.assigned]
        heard = Counter(clocked.room(j).said[1] for j in clocked.assigned)

        for job in clocked.assigned:
            await clocked.room(job).hang_up()
        for job in clocked.assigned:
            await registry.reply("job_update", job, timeout=STEP_S, status="completed")
        ended = await broker_sample(vhost, port)
        codes = await processes.stop([pod], timeout=STEP_S)
    return {
        "calls": calls,
        "first_call": _start_times(clocked, ["1"]),
        "burst": {
            "calls": len(burst),
            "all_up_s": round(burst_s, 2),
            "pod_cpu_ms_per_call": round(1000 * burst_cpu_s / max(1, len(burst)), 1),
            **_start_times(clocked, burst),
        },
        "press_to_reply_ms": _ms(replies),
        "press_heard": dict(heard),  # sales' reply to 1, or the edge's timeout prompt
        "pod_idle": idle,
        "pod_in_calls": busy,
        "broker": _per_call(before, live, ended, calls),
        "pod_exit_code": codes["edge-pod"],
    }


class StampedHub(RoomHub):
    """The room hub, noting when each room first reached each step of a call."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: dict[str, dict[str, float]] = {}

    async def changed(self) -> None:
        now = time.monotonic()
        for name, room in self.rooms.items():
            seen = self.stamps.setdefault(name, {})
            if room.subscribed:
                seen.setdefault("subscribed", now)
            if DEFAULT_GREETING in room.said:
                seen.setdefault("greeted", now)
            if len(room.said) >= 2:
                seen.setdefault("replied", now)
        await super().changed()


def _footprints(worker: int) -> dict[str, Any]:
    pod = pod_processes(worker)
    jobs = [Footprint.of([p]) for p in pod.jobs]
    base = [worker, *([pod.fork_server] if pod.fork_server else []), *pod.others]
    return {
        "processes": len(pod.jobs),
        "worker": Footprint.of([worker]).as_dict(),
        "fork_server": Footprint.of([pod.fork_server] if pod.fork_server else []).as_dict(),
        "others": Footprint.of(pod.others).as_dict(),
        "job_rss_mib": _spread([j.rss_mib for j in jobs]),
        "job_pss_mib": _spread([j.pss_mib for j in jobs]),
        "job_uss_mib": _spread([j.uss_mib for j in jobs]),
        "pod": Footprint.of(base + pod.jobs).as_dict(),
    }


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": round(statistics.median(values), 1), "max": max(values)}


def _per_call(
    before: BrokerSample, live: BrokerSample, ended: BrokerSample, calls: int
) -> dict[str, Any]:
    def per_call(field: str) -> float:
        return float(getattr(live, field) - getattr(before, field)) / calls

    def kib(field: str) -> float:
        return round(per_call(field) / 1024, 1)

    return {
        "rss_kib_per_call": kib("rss_bytes"),
        "erlang_kib_per_call": kib("erlang_bytes"),
        "binary_kib_per_call": kib("binary_bytes"),
        "connections_per_call": round(per_call("connections"), 2),
        "channels_per_call": round(per_call("channels"), 2),
        "queues_per_call": round(per_call("queues"), 2),
        "rss_after_hangup_mib": round((ended.rss_bytes - before.rss_bytes) / 2**20, 1),
        "erlang_after_hangup_mib": round((ended.erlang_bytes - before.erlang_bytes) / 2**20, 1),
        "queues_after_hangup": ended.queues - before.queues,
        "connections_after_hangup": ended.connections - before.connections,
    }
