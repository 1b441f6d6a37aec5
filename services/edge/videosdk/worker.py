"""Running the job entrypoint, in one of two modes.

- One room: `serve` joins it with `run_job` inside an already running loop, next to an
  existing Edge.
- The SDK's own `WorkerJob` (`build_worker_job`): it runs each job in its own event loop
  (and, registered with VideoSDK's backend, in its own process), so there the Edge comes
  from a factory. `services.edge.videosdk.pod` runs it registered (``--register``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from videosdk.agents import JobContext, Options, WorkerJob
from videosdk.agents.job import (
    _enter_session_scope,
    _exit_session_scope,
    _reset_current_job_context,
    _set_current_job_context,
)
from videosdk.agents.utils import resolve_videosdk_auth_token

from services.edge.edge import Edge
from services.edge.videosdk.agent import AgentFactory, IVRAgent
from services.edge.videosdk.entrypoint import Entrypoint, make_entrypoint, run_call
from services.edge.videosdk.settings import (
    PIPELINE_ENV,
    TOKEN_ENV,
    PipelineFactory,
    VideoSDKSettings,
)

log = logging.getLogger(__name__)

EdgeFactory = Callable[[], AbstractAsyncContextManager[Edge]]
# JobContext -> the room a job joins instead of VideoSDK's (tests: a local room).
RoomFactory = Callable[[Any], Any]

# The SDK's own debug HTTP server (jobs, worker stats): on loopback only, for port-forward.
SDK_DEBUG_HOST = "127.0.0.1"
SDK_DEBUG_PORT = 8081
# A job process is ready once it has imported what a job needs; several start at once on a
# busy pod, and the SDK's 10 s would fail the call that waits for one.
PROCESS_START_TIMEOUT_S = 30.0
# A stopping worker asks its job processes to stop and terminates those still running after
# this long. The pod lets its calls end first (pod.py): a call still running is cut short.
CLOSE_TIMEOUT_S = 5.0


async def run_job(ctx: JobContext, entrypoint: Entrypoint, *, stop: asyncio.Event) -> None:
    """Run one job in this loop, as the SDK's worker would, until it ends or `stop` is set.

    Sets the job context and a fresh per-session metrics/event scope exactly like the SDK's
    own job runner (private helpers of the pinned videosdk-agents version).
    """
    token = _set_current_job_context(ctx)
    scope = _enter_session_scope()
    try:
        job = asyncio.create_task(entrypoint(ctx))  # the task copies the job context
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not job.done():
                log.info("stop requested: leaving the room")
                await ctx.shutdown()  # ends run_until_shutdown, so the call ends cleanly
            await job
        finally:
            stopping.cancel()
            if not job.done():
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
    finally:
        _exit_session_scope(scope)
        _reset_current_job_context(token)


async def serve(
    edge: Edge,
    *,
    stop: asyncio.Event,
    settings: VideoSDKSettings | None = None,
    pipeline_factory: PipelineFactory | None = None,
    agent_factory: AgentFactory = IVRAgent,
) -> int:
    """Join one VideoSDK room with `edge` and serve its call; the exit status when it ends."""
    settings = settings or VideoSDKSettings.from_env()
    try:
        factory = pipeline_factory or settings.pipeline_factory()
    except (ImportError, ValueError) as error:
        log.error("%s: %s", PIPELINE_ENV, error)
        return 2
    if resolve_videosdk_auth_token(settings.auth_token) is None:
        log.error(
            "no VideoSDK credentials: set %s (or VIDEOSDK_API_KEY and VIDEOSDK_SECRET_KEY)",
            TOKEN_ENV,
        )
        return 2
    ctx = JobContext(room_options=settings.room_options())
    entrypoint = make_entrypoint(edge, pipeline_factory=factory, agent_factory=agent_factory)
    await run_job(ctx, entrypoint, stop=stop)
    return 0


@dataclass(frozen=True)
class _JobSpec:
    edge_factory: EdgeFactory
    pipeline_factory: PipelineFactory
    agent_factory: AgentFactory
    wait_for_participant: bool
    playground: bool = False
    room_factory: RoomFactory | None = None


async def _run_worker_job(spec: _JobSpec, ctx: JobContext) -> None:
    # The registered worker builds each job's RoomOptions itself, with the playground on
    # unless VideoSDK's assignment says otherwise: that logs a link holding the token.
    ctx.room_options.playground = spec.playground
    if spec.room_factory is not None:
        ctx.room_options.join_meeting = False  # JobContext.connect must not build its own
        ctx.room = spec.room_factory(ctx)
    # Each job runs in a loop (and, registered, a process) of its own, so its Edge, broker
    # connection and reply consumer are opened here rather than shared with the caller.
    async with spec.edge_factory() as edge:
        await run_call(
            ctx,
            edge=edge,
            pipeline_factory=spec.pipeline_factory,
            agent_factory=spec.agent_factory,
            wait_for_participant=spec.wait_for_participant,
        )


def build_worker_job(
    edge_factory: EdgeFactory,
    *,
    settings: VideoSDKSettings,
    pipeline_factory: PipelineFactory | None = None,
    agent_factory: AgentFactory = IVRAgent,
    register: bool = False,
    wait_for_participant: bool = True,
    max_calls: int = 1,
    idle_processes: int = 1,
    room_factory: RoomFactory | None = None,
    sdk_port: int = SDK_DEBUG_PORT,
) -> Any:
    """The SDK's `WorkerJob` for this source, not started.

    Without `register` it joins ``settings.room_id`` directly; with it, the worker registers
    with VideoSDK's backend and runs each assigned job in a process of its own: at most
    `max_calls` at once (the worker refuses more), `idle_processes` of them started ahead
    of calls. The entrypoint is a `functools.partial` of a module-level function so it
    pickles into that process, which holds as long as the factories are module-level
    callables too.
    """
    options = Options(
        agent_id=settings.agent_id,
        auth_token=settings.auth_token,
        register=register,
        max_processes=max_calls,
        num_idle_processes=min(idle_processes, max_calls),
        # The worker refuses a job once its load (jobs / max_processes) reaches this: at the
        # SDK's 0.75 a pod would take three quarters of max_calls. Full is the limit.
        load_threshold=1.0,
        initialize_timeout=PROCESS_START_TIMEOUT_S,
        close_timeout=CLOSE_TIMEOUT_S,
        host=SDK_DEBUG_HOST,
        port=sdk_port,
    )
    if not options.auth_token:
        raise ValueError(f"no VideoSDK credentials: set {TOKEN_ENV} or pass auth_token")
    spec = _JobSpec(
        edge_factory=edge_factory,
        pipeline_factory=pipeline_factory or settings.pipeline_factory(),
        agent_factory=agent_factory,
        wait_for_participant=wait_for_participant,
        playground=settings.playground,
        room_factory=room_factory,
    )
    return WorkerJob(
        entrypoint=functools.partial(_run_worker_job, spec),
        jobctx=functools.partial(JobContext, room_options=settings.room_options()),
        options=options,
    )
