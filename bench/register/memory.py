"""The edge pod's processes and their memory, read from /proc.

A pod is the SDK's worker (the process the bench started), its fork server and resource
tracker (children of the worker) and the job processes (children of the fork server). RSS
counts every page a process maps, shared ones included; PSS splits each shared page among
its sharers, so the PSS of a pod's processes adds up to what the pod holds (what its cgroup
limit is measured against, page cache aside); USS counts the pages only that process maps:
what one more job process adds to its pod.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.procstat import cpu_seconds, status_kb


def _rollup(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return {k: int(v.split()[0]) for k, _, v in (line.partition(":") for line in lines[1:])}


def pss_kb(pid: int) -> int | None:
    """Proportional set size of a process, in kB; None once it is gone."""
    return _rollup(pid).get("Pss")


def uss_kb(pid: int) -> int | None:
    """Pages no other process maps (USS), in kB: what the process adds to its pod."""
    rollup = _rollup(pid)
    if not rollup:
        return None
    return rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)


def rss_kb(pid: int) -> int | None:
    return status_kb(pid, "VmRSS")


def children(pid: int) -> list[int]:
    """Direct children of a process (every thread's)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except FileNotFoundError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


@dataclass
class PodProcesses:
    worker: int
    fork_server: int | None = None
    others: list[int] = field(default_factory=list)  # the resource tracker
    jobs: list[int] = field(default_factory=list)  # job processes, in a call or idle


def pod_processes(worker: int) -> PodProcesses:
    pod = PodProcesses(worker)
    for child in children(worker):
        if "forkserver" in _cmdline(child):
            pod.fork_server = child
            pod.jobs = children(child)
        else:
            pod.others.append(child)
    return pod


def pod_cpu_s(worker: int) -> float:
    """CPU seconds of the pod's live processes (a job process counts from its fork)."""
    pod = pod_processes(worker)
    pids = [worker, *([pod.fork_server] if pod.fork_server else []), *pod.others, *pod.jobs]
    return sum(cpu_seconds(p) or 0.0 for p in pids)


@dataclass
class Footprint:
    """RSS and PSS in MiB of one process, or the sum of several."""

    rss_mib: float
    pss_mib: float
    uss_mib: float

    @classmethod
    def of(cls, pids: list[int]) -> Footprint:
        def mib(read: Callable[[int], int | None]) -> float:
            return round(sum(read(p) or 0 for p in pids) / 1024, 1)

        return cls(mib(rss_kb), mib(pss_kb), mib(uss_kb))

    def as_dict(self) -> dict[str, float]:
        return {"rss_mib": self.rss_mib, "pss_mib": self.pss_mib, "uss_mib": self.uss_mib}
