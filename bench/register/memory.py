"""The edge pod's processes and their memory, read from /proc.

A pod is the SDK's worker (the process the bench started), its fork server and resource
tracker (children of the worker) and the job processes (children of the fork server). RSS
counts every page a process maps, shared ones included; PSS splits each shared page among
its sharers, so the PSS of a pod's processes adds up to what the pod holds (what its cgroup
limit is measured against, page cache aside).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.procstat import cpu_seconds, status_kb


def pss_kb(pid: int) -> int | None:
    """Proportional set size of a process, in kB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


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

    @classmethod
    def of(cls, pids: list[int]) -> Footprint:
        rss = sum(rss_kb(p) or 0 for p in pids)
        pss = sum(pss_kb(p) or 0 for p in pids)
        return cls(round(rss / 1024, 1), round(pss / 1024, 1))

    def as_dict(self) -> dict[str, float]:
        return {"rss_mib": self.rss_mib, "pss_mib": self.pss_mib}
