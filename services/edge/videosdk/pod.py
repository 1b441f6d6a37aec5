"""The edge pod, ``dtmf-bus edge --source videosdk --register``: the SDK's own `Worker`, its
process executor running each call in a job process, and the pod's HTTP side on the
worker's event loop.

- Calls per pod: at most ``DTMF_EDGE_MAX_CALLS`` job processes (the SDK's ``max_processes``;
  the worker itself refuses a job above it), ``DTMF_EDGE_IDLE_PROCESSES`` of them started
  ahead of calls.
- One /metrics for every call: each job process writes its metrics to the pod's directory
  (``PROMETHEUS_MULTIPROC_DIR``), the worker merges them when scraped (`pod_metrics`).
- /healthz is answered by the worker's own loop, so a wedged loop fails it; /readyz says
  whether the worker is registered with VideoSDK and the broker reachable.
- On SIGTERM the pod stops being ready, the worker refuses new jobs (and tells VideoSDK it is
  draining) and lets its calls end, for up to `CALL_DRAIN_S`; then it stops the job
  processes (`worker.CLOSE_TIMEOUT_S` each), cutting short a call still running.

`Worker` and `_run_backend_mode` are what the SDK's own `Worker.run_worker` runs; it is not
used because it owns its loop, and the pod's HTTP side must share that loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from videosdk.agents.execution._mp_context import get_mp_context
from videosdk.agents.utils import resolve_videosdk_auth_token
from videosdk.agents.worker import Worker, WorkerOptions

from services.edge.bus import running_edge
from services.edge.edge import Edge
from services.edge.settings import EdgeSettings, default_edge_id
from services.edge.videosdk.job_processes import use_job_processes
from services.edge.videosdk.pod_metrics import PodView, metrics_directory
from services.edge.videosdk.settings import (
    PIPELINE_ENV,
    TOKEN_ENV,
    PipelineFactory,
    VideoSDKSettings,
)
from services.edge.videosdk.worker import SDK_DEBUG_PORT, RoomFactory, build_worker_job
from services.runtime.amqp import broker
from services.runtime.http import http_server
from services.runtime.lifecycle import bounded, setup_logging
from services.runtime.metrics import Metrics, release_gauges, sample_gauges, share_through, sharing

log = logging.getLogger(__name__)

# On SIGTERM, how long the pod lets its calls end before it stops their processes (the pod's
# terminationGracePeriodSeconds must leave room for this and `worker.CLOSE_TIMEOUT_S`).
CALL_DRAIN_S = 60.0
# Function-read gauges of a job process (live calls, presses waiting) reach the pod's files
# this often: what a scrape shows is at most this old.
SAMPLE_EVERY_S = 1.0


# --- in each job process -------------------------------------------------------------------


@asynccontextmanager
async def job_edge(settings: EdgeSettings, directory: Path) -> AsyncIterator[Edge]:
    """The Edge of one job (one call) in its job process: an edge id of its own, so a reply
    queue of its own; no HTTP server (the worker serves the pod's); its metrics written to
    the pod's directory. Module-level: the SDK pickles it into the job process."""
    setup_logging(settings.log_level)  # a job process starts without the worker's logging
    share_through(directory)
    metrics = _process_metrics(_service(settings))
    job_settings = replace(settings, edge_id=default_edge_id(), http_port=-1)
    try:
        async with running_edge(job_settings, metrics=metrics) as edge, _sampling():
            yield edge
    finally:
        release_gauges()


@functools.cache
def _process_metrics(service: str) -> Metrics:
    # One per process: a job process serves calls one after the other, and its counters go
    # on from one call to the next.
    return Metrics(service=service)


@asynccontextmanager
async def _sampling() -> AsyncIterator[None]:
    async def sample_forever() -> None:
        while True:
            sample_gauges()
            await asyncio.sleep(SAMPLE_EVERY_S)

    task = asyncio.create_task(sample_forever())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _service(settings: EdgeSettings) -> str:
    # The pod's processes label their series as one edge, the pod (its DTMF_EDGE_ID).
    return f"edge-{settings.edge_id}"


# --- in the worker process -----------------------------------------------------------------


class WorkerDidNotStart(RuntimeError):
    """The SDK's worker could not start: no job processes, or VideoSDK's registry is out of
    reach (its init-config API or the registry itself)."""


class EdgePod:
    """The running pod: the SDK's worker, and what /readyz looks at."""

    def __init__(self, worker: Any, link: broker.LinkState) -> None:
        self.worker = worker
        self.link = link
        self.stopping = False
        self.http_port: int | None = None
        self.running: asyncio.Task[None] | None = None  # the worker's backend mode

    def readiness(self) -> str | None:
        if self.stopping:
            return "stopping: taking no new calls"
        registry = self.worker.backend_connection
        if self.running is None or registry is None or not registry.is_connected:
            return "not registered with VideoSDK"
        if not self.link.up:
            return "not connected to the broker"
        return None


@asynccontextmanager
async def running_pod(
    settings: EdgeSettings,
    *,
    videosdk: VideoSDKSettings,
    pipeline_factory: PipelineFactory | None = None,
    room_factory: RoomFactory | None = None,
    sdk_port: int = SDK_DEBUG_PORT,
    drain_s: float = CALL_DRAIN_S,
) -> AsyncIterator[EdgePod]:
    """The worker registered and taking calls, with the pod's HTTP side, until the block
    exits; then it drains (see the module's docstring)."""
    with metrics_directory() as directory, sharing(directory):
        _prepare_job_processes(settings)
        job = build_worker_job(
            functools.partial(job_edge, settings, directory),
            settings=videosdk,
            pipeline_factory=pipeline_factory,
            register=True,
            max_calls=settings.edge_max_calls,
            idle_processes=settings.edge_idle_processes,
            room_factory=room_factory,
            sdk_port=sdk_port,
        )
        worker = Worker(_worker_options(job), default_room_options=videosdk.room_options())
        metrics = Metrics(service=_service(settings))  # the worker's own series
        connection = await broker.connect(settings.amqp_url, name=f"dtmf-edge-{settings.edge_id}")
        try:
            pod = EdgePod(worker, broker.LinkState(connection))
            metrics.broker_connected.labels(_service(settings)).set_function(
                lambda: float(pod.link.up)
            )
            async with http_server(
                PodView(directory), pod.readiness, host=settings.http_host, port=settings.http_port
            ) as port:
                pod.http_port = port
                async with _worker_running(pod, drain_s=drain_s):
                    yield pod
        finally:
            await bounded(connection.close(), what="edge pod: close", timeout=5)


@asynccontextmanager
async def _worker_running(pod: EdgePod, *, drain_s: float) -> AsyncIterator[None]:
    try:
        try:
            await pod.worker.initialize()  # job processes, registry, the SDK's debug server
        except RuntimeError as error:
            raise WorkerDidNotStart(str(error)) from error
        pod.running = asyncio.create_task(pod.worker._run_backend_mode())
        log.info(
            "edge pod up: at most %d calls, %d processes started ahead",
            pod.worker.options.max_processes,
            pod.worker.options.num_idle_processes,
        )
        yield
    finally:
        pod.stopping = True
        # The SDK's own drain: refuse new jobs, tell VideoSDK, wait for the calls to end.
        # Its shutdown alone would report the calls completed to VideoSDK while they run.
        await pod.worker.drain(timeout=drain_s)
        await pod.worker.shutdown()
        if pod.running is not None:
            await bounded(pod.running, what="edge pod: worker loop", timeout=5)


def _worker_options(job: Any) -> Any:
    # What WorkerJob.start hands the Worker: its entrypoint and every field of its Options.
    names = {f.name for f in fields(WorkerOptions)} & {f.name for f in fields(job.options)}
    return WorkerOptions(
        entrypoint_fnc=job.entrypoint, **{name: getattr(job.options, name) for name in names}
    )


def _prepare_job_processes(settings: EdgeSettings) -> None:
    use_job_processes()  # a job process's start is never lost (job_processes.py)
    # The SDK waits for each job process (its result, or its start) on a thread of the
    # loop's default executor, which has min(32, cores + 4) threads: fewer than the calls of
    # a pod, so calls would wait for each other to start and end. One thread per process.
    threads = settings.edge_max_calls + settings.edge_idle_processes + 4
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="jobs")
    )
    # Job processes are forked from the SDK's fork server: with the job's modules imported
    # there once, a job process starts in milliseconds instead of importing them itself,
    # and shares their memory. No effect once the fork server runs (it starts with the first
    # job process).
    context = get_mp_context()
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["__main__", __name__])


async def serve_pod(
    settings: EdgeSettings, *, stop: asyncio.Event, videosdk: VideoSDKSettings | None = None
) -> int:
    """Run the pod until `stop` is set; the exit status."""
    videosdk = videosdk or VideoSDKSettings.from_env()
    try:
        pipeline_factory = videosdk.pipeline_factory()
    except (ImportError, ValueError) as error:
        log.error("%s: %s", PIPELINE_ENV, error)
        return 2
    if resolve_videosdk_auth_token(videosdk.auth_token) is None:
        log.error("no VideoSDK credentials: set %s", TOKEN_ENV)
        return 2
    try:
        async with running_pod(
            settings, videosdk=videosdk, pipeline_factory=pipeline_factory
        ) as pod:
            assert pod.running is not None
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({stopping, pod.running}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not stop.is_set():
                log.error("the VideoSDK worker stopped on its own")
                return 1
            log.info("stop requested: draining the edge pod")
    except WorkerDidNotStart as error:
        log.error("the VideoSDK worker did not start: %s", error)
        return 1
    return 0
