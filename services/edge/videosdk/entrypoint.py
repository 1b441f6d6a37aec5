"""The job entrypoint: one VideoSDK job (one room, one phone call) served as one `Call`.

`run_call` builds the agent and its `AgentSession`, publishes the presses through the Edge
and ends the call; `make_entrypoint` binds it to an Edge as ``entrypoint(ctx)``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

from videosdk.agents import AgentSession, JobContext

from contracts.base import new_id
from services.edge.edge import Edge
from services.edge.inband.pairing import PressPairing, SourcePolicy
from services.edge.settings import key_sources as key_sources_from_env
from services.edge.videosdk.agent import AgentFactory, IVRAgent
from services.edge.videosdk.dtmf_handler import BusDTMFHandler
from services.edge.videosdk.inband import InbandSource
from services.edge.videosdk.messages import DTMFForwarder
from services.edge.videosdk.session import VideoSDKCallSession
from services.edge.videosdk.settings import PipelineFactory

SOURCE = "videosdk"

Entrypoint = Callable[[Any], Coroutine[Any, Any, None]]  # async def entrypoint(ctx: JobContext)


async def run_call(
    ctx: JobContext,
    *,
    edge: Edge,
    pipeline_factory: PipelineFactory,
    agent_factory: AgentFactory = IVRAgent,
    wait_for_participant: bool = True,
    key_sources: SourcePolicy | None = None,
) -> None:
    """One job: build the agent, join the room, publish the presses, end the call.

    Must run with `ctx` as the current job context (the worker sees to that): the pipeline
    registers itself with it and the DTMF handler subscribes on its room. `key_sources`
    (default: DTMF_KEY_SOURCES) says whether presses come from the gateway's events, from
    tones in the caller's audio, or both.
    """
    policy = key_sources or SourcePolicy(key_sources_from_env(os.environ))
    agent = agent_factory()
    pipeline = pipeline_factory()
    forwarder, inband = _key_sources(edge, policy)
    if inband is not None:
        inband.attach(pipeline)
    dtmf = BusDTMFHandler(forwarder)
    session = AgentSession(agent=agent, pipeline=pipeline, dtmf_handler=dtmf)
    # Started before the room is joined so a press can never arrive without its call; the
    # room id, when known, doubles as the call id so logs of both sides line up.
    call = await edge.start_call(
        VideoSDKCallSession(session), source=SOURCE, call_id=_room_id(ctx) or new_id()
    )
    forwarder.call = call
    if inband is not None:
        inband.call = call
    reason = "session_ended"
    try:
        await ctx.run_until_shutdown(session=session, wait_for_participant=wait_for_participant)
    except asyncio.CancelledError:
        reason = "cancelled"
        raise
    except Exception:
        reason = "error"
        raise
    finally:
        await dtmf.drain()  # presses already received go out before call.ended
        if inband is not None:
            await inband.drain()
        await edge.end_call(call, reason=reason)


def _key_sources(edge: Edge, policy: SourcePolicy) -> tuple[DTMFForwarder, InbandSource | None]:
    """The gateway's forwarder and, unless the policy is gateway only, the in-band source."""
    if policy is SourcePolicy.GATEWAY:
        return DTMFForwarder(edge), None
    if policy is SourcePolicy.INBAND:
        return DTMFForwarder(edge, admit=lambda key: False), InbandSource(edge)
    pairing = PressPairing()
    return (
        DTMFForwarder(edge, admit=lambda key: pairing.gateway(key, at=time.monotonic())),
        InbandSource(edge, pairing=pairing),
    )


def _room_id(ctx: JobContext) -> str | None:
    room_id = getattr(ctx.room_options, "room_id", None)
    return room_id if isinstance(room_id, str) and room_id else None


def make_entrypoint(
    edge: Edge,
    *,
    pipeline_factory: PipelineFactory,
    agent_factory: AgentFactory = IVRAgent,
    wait_for_participant: bool = True,
    key_sources: SourcePolicy | None = None,
) -> Entrypoint:
    """``async def entrypoint(ctx: JobContext)`` bound to an Edge living in the same loop."""

    async def entrypoint(ctx: JobContext) -> None:
        await run_call(
            ctx,
            edge=edge,
            pipeline_factory=pipeline_factory,
            agent_factory=agent_factory,
            wait_for_participant=wait_for_participant,
            key_sources=key_sources,
        )

    return entrypoint
