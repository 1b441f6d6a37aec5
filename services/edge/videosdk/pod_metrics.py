"""One /metrics for an edge pod: what every process of the pod wrote to its metrics
directory, merged (prometheus_client's multiprocess mode, see `services.runtime.metrics`).

Counters and histograms of all processes are summed, those of dead processes included, so
totals never go backwards. Gauges merge as each one's ``multiprocess_mode`` says; the
``live*`` ones forget a process once it is gone (`forget_dead_processes`, run on every
scrape, is prometheus_client's `mark_process_dead` for each such process).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from services.runtime.metrics import MULTIPROC_DIR_ENV, sample_gauges

log = logging.getLogger(__name__)

_LIVE_FILES = "gauge_live*_*.db"


@contextmanager
def metrics_directory() -> Iterator[Path]:
    """The pod's metrics directory while inside: ``PROMETHEUS_MULTIPROC_DIR`` (on Kubernetes an
    emptyDir volume), else a temporary one, removed afterwards. Emptied first: files left by
    an earlier run describe processes that are gone."""
    configured = os.environ.get(MULTIPROC_DIR_ENV)
    if not configured:
        with tempfile.TemporaryDirectory(prefix="dtmf-metrics-") as temporary:
            yield Path(temporary)
        return
    directory = Path(configured)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    log.info("pod metrics directory: %s", directory)
    yield directory


def forget_dead_processes(directory: Path) -> None:
    """Drop the live gauges of every process that has exited."""
    pids = {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob(_LIVE_FILES)}
    for pid in pids - {os.getpid()}:
        if not _alive(pid):
            log.debug("metrics of process %d: gone, dropping its live gauges", pid)
            mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    # An exited child not yet reaped still answers kill(pid, 0); Linux says so in /proc.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


class _PodCollector(Collector):
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._files = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        sample_gauges()  # this process's own function-read gauges
        forget_dead_processes(self._directory)
        merged: Iterable[Metric] = self._files.collect()  # type: ignore[no-untyped-call]
        return merged


class PodView:
    """The registry a pod's worker serves on /metrics (what `http_server` scrapes)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.registry = CollectorRegistry()
        self.registry.register(_PodCollector(directory))
