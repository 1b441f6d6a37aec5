"""The VideoSDK call source of the media edge.

One VideoSDK job (one room, one phone call) becomes one `Call` on the `Edge`:

- `BusDTMFHandler` replaces the stock `DTMFHandler` callback path. The stock handler reads
  ``message["payload"]["number"]``, drops the rest (id, timestamps, sender) and returns early
  on a falsy digit, so a numeric 0 never arrives. This one hands over the whole PubSub message.
- `press_from_message` turns a ``DTMF_EVENT`` PubSub message into the arguments of
  `Edge.press`; `DTMFForwarder` does that per call and drops malformed messages with a warning.
- `VideoSDKCallSession` lets replies act on the real `AgentSession` (say, instructions, ...).
- `make_entrypoint` / `run_call` are the worker entrypoint; `serve` runs one job inside an
  already running loop next to an existing Edge; `build_worker_job` / `run_worker` use the
  SDK's own `WorkerJob`, which runs each job in its own event loop (and, when registered
  with VideoSDK's backend, in its own process), so there the Edge comes from a factory.

A real ``DTMF_EVENT`` message, as VideoSDK documents it::

    {"message": "Dtmf event received", "senderId": "otb9vc4s",
     "timestamp": "2025-09-08T12:02:14.726Z", "topic": "DTMF_EVENT",
     "senderName": "Participant", "id": "32gwnzkt5we",
     "payload": {"number": 1, "timestamp": "1757332934706"}}

Digits arrive as JSON numbers, ``*`` and ``#`` as strings, ``payload.timestamp`` is epoch
milliseconds as a string.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from videosdk import PubSubSubscribeConfig
from videosdk.agents import (
    Agent,
    AgentSession,
    DTMFHandler,
    JobContext,
    Options,
    Pipeline,
    RoomOptions,
    WorkerJob,
)
from videosdk.agents.job import (
    _enter_session_scope,
    _exit_session_scope,
    _reset_current_job_context,
    _set_current_job_context,
)
from videosdk.agents.utils import resolve_videosdk_auth_token

from contracts.base import new_id
from contracts.keys import InvalidKey, normalize_key
from services.edge.calls import Call
from services.edge.edge import Edge

log = logging.getLogger(__name__)

SOURCE = "videosdk"
DTMF_TOPIC = "DTMF_EVENT"

DEFAULT_GREETING = "Press 1 for Sales or 2 for Support."
DEFAULT_INSTRUCTIONS = (
    "You are the automated phone menu (IVR) of this line. Greet the caller and say: "
    f"'{DEFAULT_GREETING}' Keep every answer short. Key presses are handled by other "
    "services, which may give you new instructions during the call; follow them."
)
DEFAULT_AGENT_NAME = "dtmf-bus"
DEFAULT_AGENT_ID = "dtmf-bus-edge"

TOKEN_ENV = "VIDEOSDK_AUTH_TOKEN"
ROOM_ID_ENV = "VIDEOSDK_ROOM_ID"
AGENT_NAME_ENV = "DTMF_VIDEOSDK_AGENT_NAME"
AGENT_ID_ENV = "DTMF_VIDEOSDK_AGENT_ID"
PIPELINE_ENV = "DTMF_VIDEOSDK_PIPELINE"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MessageCallback = Callable[[Mapping[str, Any]], Awaitable[None] | None]
PipelineFactory = Callable[[], Any]  # returns a videosdk.agents.Pipeline
AgentFactory = Callable[[], Any]  # returns a videosdk.agents.Agent
EdgeFactory = Callable[[], AbstractAsyncContextManager[Edge]]
Entrypoint = Callable[[Any], Coroutine[Any, Any, None]]  # async def entrypoint(ctx: JobContext)


# --- DTMF messages -> key presses ---------------------------------------------------------


class MalformedDTMFMessage(ValueError):
    """A PubSub message on the DTMF topic that does not describe one key press."""


@dataclass(frozen=True, slots=True)
class DTMFPress:
    """The arguments of `Edge.press` for one DTMF PubSub message."""

    key: str
    pressed_at: datetime | None
    source_message_id: str | None
    participant_id: str | None
    source_payload: dict[str, Any]


def press_from_message(message: object) -> DTMFPress:
    """Read one ``DTMF_EVENT`` message; raises `MalformedDTMFMessage` saying why it can't.

    The press time is ``payload.timestamp`` (epoch ms, stamped where the tone was detected);
    the top-level ISO ``timestamp`` is when PubSub sent it, so it is only the fallback.
    """
    if not isinstance(message, Mapping):
        raise MalformedDTMFMessage(f"not an object but {type(message).__name__}")
    payload = message.get("payload")
    if not isinstance(payload, Mapping):
        raise MalformedDTMFMessage("no payload object")
    number = payload.get("number")
    if number is None:
        raise MalformedDTMFMessage("payload has no number")
    try:
        key = normalize_key(number)
    except InvalidKey as error:
        raise MalformedDTMFMessage(str(error)) from None
    return DTMFPress(
        key=key,
        pressed_at=_epoch_ms(payload.get("timestamp")) or _iso(message.get("timestamp")),
        source_message_id=_text(message.get("id")),
        participant_id=_text(message.get("senderId")),
        source_payload=dict(message),
    )


def _epoch_ms(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    millis: float
    if isinstance(value, int | float):
        millis = value
    elif isinstance(value, str):
        try:
            millis = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except (OverflowError, ValueError):  # nan, inf, or outside datetime's range
        return None


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # A timestamp without an offset is taken as UTC, which is what VideoSDK sends.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    return None


class DTMFForwarder:
    """Publishes the DTMF messages of one call through the Edge.

    Built before the call exists (the handler must be handed to `AgentSession`, whose wrapper
    is what the call is started with); `call` is set once `Edge.start_call` returned.
    """

    def __init__(self, edge: Edge, call: Call | None = None) -> None:
        self._edge = edge
        self.call = call

    async def __call__(self, message: Mapping[str, Any]) -> None:
        call = self.call
        if call is None or call.ended:
            log.warning("DTMF message %r dropped: no live call for it", message)
            return
        try:
            press = press_from_message(message)
        except MalformedDTMFMessage as error:
            log.warning("call %s: DTMF message dropped (%s): %r", call.call_id, error, message)
            return
        await self._edge.press(
            call,
            press.key,
            pressed_at=press.pressed_at,
            source_message_id=press.source_message_id,
            participant_id=press.participant_id,
            source_payload=press.source_payload,
        )


# --- VideoSDK adapters ------------------------------------------------------------------


class BusDTMFHandler(DTMFHandler):  # type: ignore[misc]  # videosdk ships no type hints
    """A `DTMFHandler` that hands the whole PubSub message to its callback and keeps key 0.

    Like the stock handler it must be built inside a job (it reads the job context), and
    `AgentSession.start` calls `start`, which subscribes to ``DTMF_EVENT`` on the room.
    """

    def __init__(self, callback: MessageCallback) -> None:
        super().__init__(callback=None)
        self._subscribed: bool = False
        self._on_message = callback
        self._tasks: set[asyncio.Task[None]] = set()

    def set_callback(self, callback: MessageCallback) -> None:
        self._on_message = callback

    async def start(self) -> None:
        # Replaces the base start only to keep a reference to each delivery task: the stock
        # handler's `asyncio.create_task` result is dropped, so a press could be collected
        # mid-publish, and shutdown could not wait for presses still in flight.
        if self._subscribed:
            return
        room = getattr(self.ctx, "room", None)
        if room is None:
            raise RuntimeError("BusDTMFHandler needs the job's room: start it from AgentSession")
        await room.subscribe_to_pubsub(PubSubSubscribeConfig(topic=DTMF_TOPIC, cb=self._schedule))
        self._subscribed = True

    def _schedule(self, message: object) -> None:
        # VideoSDK's PubSub calls back synchronously on the room's loop. Tasks start in
        # arrival order and `Edge.press` numbers a press before its first await, so
        # sequence numbers follow the order the keys were pressed.
        task = asyncio.create_task(self._on_pubsub_event(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every message received so far has been handled."""
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _on_pubsub_event(self, message: object) -> None:
        try:
            if not isinstance(message, Mapping):
                log.warning("DTMF message dropped: not an object: %r", message)
                return
            result = self._on_message(message)
            if inspect.isawaitable(result):
                await result
        except Exception:
            # Never into the room's loop: one bad press must not end the call's key handling.
            log.exception("DTMF message could not be handled: %r", message)


class VideoSDKCallSession:
    """The `CallSession` replies act on, over a live `AgentSession`."""

    def __init__(self, session: AgentSession) -> None:
        self.session = session

    def _agent(self, action: str) -> Any:
        # AgentSession.close() sets session.agent to None; a reply can still be in flight.
        agent = self.session.agent
        if agent is None:
            log.info("%s dropped: the agent session is closed", action)
        return agent

    async def say(self, text: str) -> None:
        # With a TTS this returns once the audio has played (the orchestrator waits for the
        # last audio byte), so a Say followed by a Transfer is heard before the transfer.
        if self._agent("say") is not None:
            await self.session.say(text)

    async def set_instructions(self, instructions: str) -> None:
        agent = self._agent("set_instructions")
        if agent is not None:
            # The setter also appends a system message to the chat context, which is what
            # makes the LLM follow the new persona from its next turn on.
            agent.instructions = instructions

    async def transfer(self, to: str) -> None:
        await self.session.call_transfer(to)

    async def hangup(self, reason: str) -> None:
        await self.session.hangup(reason)

    async def interrupt(self) -> None:
        # Barge-in: cut the current utterance short (the SDK keeps it if uninterruptible).
        if self._agent("interrupt") is not None:
            self.session.interrupt()


class IVRAgent(Agent):  # type: ignore[misc]  # videosdk ships no type hints
    """The default agent: a phone menu that greets the caller with the key choices."""

    def __init__(
        self, *, instructions: str = DEFAULT_INSTRUCTIONS, greeting: str = DEFAULT_GREETING
    ) -> None:
        super().__init__(instructions=instructions)
        self.greeting = greeting

    async def on_enter(self) -> None:
        if self.greeting:
            await self.session.say(self.greeting)

    async def on_exit(self) -> None:
        pass


def empty_pipeline() -> Any:
    """A pipeline without providers: key presses flow, but the agent cannot speak or listen."""
    log.warning(
        "no speech providers configured (set %s=module:factory): the agent will not speak",
        PIPELINE_ENV,
    )
    return Pipeline()


def load_pipeline_factory(spec: str) -> PipelineFactory:
    """Import ``package.module:callable``, a zero-argument function returning a Pipeline."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"pipeline factory {spec!r} is not of the form package.module:callable")
    factory: object = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(factory):
        raise ValueError(f"pipeline factory {spec!r} is not callable")
    return factory


# --- the worker entrypoint --------------------------------------------------------------


async def run_call(
    ctx: JobContext,
    *,
    edge: Edge,
    pipeline_factory: PipelineFactory,
    agent_factory: AgentFactory = IVRAgent,
    wait_for_participant: bool = True,
) -> None:
    """One job: build the agent, join the room, publish the presses, end the call.

    Must run with `ctx` as the current job context (the worker sees to that): the pipeline
    registers itself with it and the DTMF handler subscribes on its room.
    """
    agent = agent_factory()
    pipeline = pipeline_factory()
    forwarder = DTMFForwarder(edge)
    dtmf = BusDTMFHandler(forwarder)
    session = AgentSession(agent=agent, pipeline=pipeline, dtmf_handler=dtmf)
    # Started before the room is joined so a press can never arrive without its call; the
    # room id, when known, doubles as the call id so logs of both sides line up.
    call = await edge.start_call(
        VideoSDKCallSession(session), source=SOURCE, call_id=_room_id(ctx) or new_id()
    )
    forwarder.call = call
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
        await edge.end_call(call, reason=reason)


def _room_id(ctx: JobContext) -> str | None:
    room_id = getattr(ctx.room_options, "room_id", None)
    return room_id if isinstance(room_id, str) and room_id else None


def make_entrypoint(
    edge: Edge,
    *,
    pipeline_factory: PipelineFactory,
    agent_factory: AgentFactory = IVRAgent,
    wait_for_participant: bool = True,
) -> Entrypoint:
    """``async def entrypoint(ctx: JobContext)`` bound to an Edge living in the same loop."""

    async def entrypoint(ctx: JobContext) -> None:
        await run_call(
            ctx,
            edge=edge,
            pipeline_factory=pipeline_factory,
            agent_factory=agent_factory,
            wait_for_participant=wait_for_participant,
        )

    return entrypoint


@dataclass(frozen=True, kw_only=True)
class VideoSDKSettings:
    """What the VideoSDK source needs beyond the edge's own settings."""

    auth_token: str | None = None  # None: the SDK's own lookup (env token, or API key+secret)
    room_id: str | None = None  # None: VIDEOSDK_ROOM_ID, else VideoSDK creates a room
    agent_name: str = DEFAULT_AGENT_NAME
    agent_id: str = DEFAULT_AGENT_ID
    pipeline: str | None = None  # package.module:callable returning a Pipeline
    playground: bool = False  # True prints a playground link that contains the token

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VideoSDKSettings:
        env = os.environ if env is None else env
        return cls(
            auth_token=env.get(TOKEN_ENV) or None,
            room_id=env.get(ROOM_ID_ENV) or None,
            agent_name=env.get(AGENT_NAME_ENV) or DEFAULT_AGENT_NAME,
            agent_id=env.get(AGENT_ID_ENV) or DEFAULT_AGENT_ID,
            pipeline=env.get(PIPELINE_ENV) or None,
        )

    def room_options(self) -> RoomOptions:
        return RoomOptions(
            room_id=self.room_id,
            auth_token=self.auth_token,
            name=self.agent_name,
            playground=self.playground,
        )

    def pipeline_factory(self) -> PipelineFactory:
        return load_pipeline_factory(self.pipeline) if self.pipeline else empty_pipeline


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


__all__ = [
    "DEFAULT_GREETING",
    "DEFAULT_INSTRUCTIONS",
    "DTMF_TOPIC",
    "SOURCE",
    "BusDTMFHandler",
    "DTMFForwarder",
    "DTMFPress",
    "IVRAgent",
    "MalformedDTMFMessage",
    "VideoSDKCallSession",
    "VideoSDKSettings",
    "build_worker_job",
    "empty_pipeline",
    "load_pipeline_factory",
    "make_entrypoint",
    "press_from_message",
    "run_call",
    "run_job",
    "run_worker",
    "serve",
]
