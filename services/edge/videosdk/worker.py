"""Running the job entrypoint, in one of two modes.

- One room: `serve` joins it with `run_job` inside an already running loop, next to an
  existing Edge.
- The SDK's own `WorkerJob` (`build_worker_job` / `run_worker`, ``--register``): it runs
  each job in its own event loop (and, when registered with VideoSDK's backend, in its own
  process), so there the Edge comes from a factory.
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


async def _run_worker_job(spec: _JobSpec, ctx: JobContext) -> None:
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
) -> Any:
    """The SDK's `WorkerJob` for this source, not started.

    Without `register` it joins ``settings.room_id`` directly; with it, the worker registers
    with VideoSDK's backend and runs each assigned job in a new process. The entrypoint is a
    `functools.partial` of a module-level function so it pickles into that process, which
    holds as long as the factories are module-level callables too.
    """
    options = Options(agent_id=settings.agent_id, auth_token=settings.auth_token, register=register)
    if not options.auth_token:
        raise ValueError(f"no VideoSDK credentials: set {TOKEN_ENV} or pass auth_token")
    spec = _JobSpec(
        edge_factory=edge_factory,
        pipeline_factory=pipeline_factory or settings.pipeline_factory(),
        agent_factory=agent_factory,
        wait_for_participant=wait_for_participant,
    )
    return WorkerJob(
        entrypoint=functools.partial(_run_worker_job, spec),
        jobctx=functools.partial(JobContext, room_options=settings.room_options()),
        options=options,
    )


def run_worker(
    edge_factory: EdgeFactory,
    *,
    settings: VideoSDKSettings | None = None,
    pipeline_factory: PipelineFactory | None = None,
    agent_factory: AgentFactory = IVRAgent,
    register: bool = False,
) -> None:
    """Run the VideoSDK worker in the foreground (blocking; it owns the event loop)."""
    job = build_worker_job(
        edge_factory,
        settings=settings or VideoSDKSettings.from_env(),
        pipeline_factory=pipeline_factory,
        agent_factory=agent_factory,
        register=register,
    )
    job.start()
