"""services.edge.videosdk driving the real videosdk-agents classes.

Real: `BusDTMFHandler` (a `DTMFHandler`), `AgentSession`, `Agent` (`IVRAgent`), `Pipeline`,
`JobContext` with `RoomOptions` and its own `run_until_shutdown`, `WorkerJob`, and the `Edge`.
Stood in for, and nothing else:

- the network side of the room (`LocalPubSubRoom`, tools/videosdk_local): PubSub delivery,
  the participant joining, the session ending, the SIP transfer API.
  `RoomOptions(join_meeting=False)` keeps `JobContext.connect` from building the real
  `VideoSDKHandler`, and the local room is assigned to `ctx.room` instead;
- the broker (`RecordingPublisher`, an in-memory `EventPublisher`, tests/fakes.py).

The pipeline has no STT/LLM/TTS providers, so nothing leaves the process: `AgentSession.say`
still adds the text to the agent's chat context and hands it to `Pipeline.send_message`,
which `RecordingPipeline` records before passing it on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from videosdk.agents import (
    AgentSession,
    DTMFHandler,
    JobContext,
    Pipeline,
    RoomOptions,
    WorkerJob,
    audio_format,
)
from videosdk.agents.job import (
    _enter_session_scope,
    _exit_session_scope,
    _reset_current_job_context,
    _set_current_job_context,
    get_current_job_context,
)
from videosdk.agents.room._input_stream import InputStreamManager
from vsaiortc.mediastreams import MediaStreamError

from contracts.events import CallEnded, CallStarted, KeyPress
from contracts.replies import Hangup, Reply, Say, SetInstructions, Transfer
from services.edge.edge import BUSY_PROMPT, Edge
from services.edge.inband.pairing import SourcePolicy
from services.edge.inband.tones import dbm0_amplitude, frequencies
from services.edge.videosdk.agent import DEFAULT_GREETING, IVRAgent
from services.edge.videosdk.dtmf_handler import BusDTMFHandler
from services.edge.videosdk.entrypoint import make_entrypoint
from services.edge.videosdk.messages import DTMF_TOPIC, MalformedDTMFMessage, press_from_message
from services.edge.videosdk.pod import EdgePod
from services.edge.videosdk.pod_metrics import PodView
from services.edge.videosdk.settings import VideoSDKSettings
from services.edge.videosdk.worker import build_worker_job, run_job
from services.runtime.metrics import Metrics, sharing
from services.runtime.outcomes import Outcome
from services.runtime.transfers import TransferAllowlist
from tests.fakes import RecordingPublisher
from tools.videosdk_local.room import PARTICIPANT, LocalPubSubRoom, dtmf_message

ROOM_ID = "room-abc"
EDGE_ID = "edge-test"
TIMEOUT_S = 5.0
# payload.timestamp "1757332934706" in the documented message
PRESSED_AT = datetime(2025, 9, 8, 12, 2, 14, 706000, tzinfo=UTC)
# top-level "2025-09-08T12:02:14.726Z": when PubSub sent it
SENT_AT = datetime(2025, 9, 8, 12, 2, 14, 726000, tzinfo=UTC)

# The package logger: at_level on it covers the loggers of all its modules.
PACKAGE_LOGGER = "services.edge.videosdk"


# --- stand-ins: the room's network side and the broker are imported, the pipeline is here ---


class RecordingPipeline(Pipeline):  # type: ignore[misc]
    """A real Pipeline without providers that records what AgentSession.say hands it."""

    def __init__(self) -> None:
        super().__init__()
        self.spoken: list[str] = []
        self.spoke = asyncio.Event()

    async def send_message(self, message: str, handle: Any, audio_data: Any = None) -> None:
        self.spoken.append(message)
        self.spoke.set()
        await super().send_message(message, handle=handle, audio_data=audio_data)


# --- job context -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_videosdk_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing here may find real credentials, and the SDK writes a token it resolves back
    # into os.environ: setting each name first makes monkeypatch restore it afterwards.
    for name in ("VIDEOSDK_AUTH_TOKEN", "VIDEOSDK_API_KEY", "VIDEOSDK_SECRET_KEY"):
        monkeypatch.setenv(name, "set-by-test")
        monkeypatch.delenv(name)
    monkeypatch.delenv("VIDEOSDK_ROOM_ID", raising=False)


def new_job_context(room: LocalPubSubRoom) -> Any:
    options = RoomOptions(room_id=ROOM_ID, join_meeting=False, playground=False)
    ctx = JobContext(room_options=options)
    ctx.room = room
    return ctx


@contextmanager
def as_current_job(ctx: Any) -> Iterator[Any]:
    """What the SDK's job runner does around an entrypoint."""
    token = _set_current_job_context(ctx)
    scope = _enter_session_scope()
    try:
        yield ctx
    finally:
        _exit_session_scope(scope)
        _reset_current_job_context(token)


async def until(waiting: Any, job: asyncio.Task[Any]) -> None:
    """Await `waiting`, but surface the job's own error if it fails first."""
    waiter = asyncio.ensure_future(waiting)
    done, _ = await asyncio.wait(
        {waiter, job}, timeout=TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
    if job in done:
        job.result()
    assert waiter in done, "timed out"


@dataclass
class LiveCall:
    edge: Edge
    publisher: RecordingPublisher
    room: LocalPubSubRoom
    agent: IVRAgent
    pipeline: RecordingPipeline
    job: asyncio.Task[None]


@asynccontextmanager
async def live_call(
    *,
    max_unanswered: int = 0,
    key_sources: SourcePolicy | None = None,
    pipeline: RecordingPipeline | None = None,
) -> AsyncIterator[LiveCall]:
    """The real entrypoint running one call through JobContext.run_until_shutdown."""
    publisher = RecordingPublisher()
    edge = Edge(
        edge_id=EDGE_ID,
        publisher=publisher,
        max_unanswered=max_unanswered,
        transfer_allow=TransferAllowlist.parse("sip:support@example.com"),
    )
    room = LocalPubSubRoom()
    ctx = new_job_context(room)
    with as_current_job(ctx):
        # Built here, in the job context, so the test keeps hold of them.
        agent = IVRAgent()
        pipeline = pipeline or RecordingPipeline()
        entrypoint = make_entrypoint(
            edge,
            pipeline_factory=lambda: pipeline,
            agent_factory=lambda: agent,
            key_sources=key_sources,
        )
        job = asyncio.create_task(entrypoint(ctx))
        try:
            await until(pipeline.spoke.wait(), job)  # the greeting: the agent is up
            yield LiveCall(edge, publisher, room, agent, pipeline, job)
        finally:
            if not job.done():
                room.end_session("test_over")
            async with asyncio.timeout(TIMEOUT_S):
                await job


# --- the handler ------------------------------------------------------------------------


async def test_the_stock_dtmf_handler_loses_key_zero_and_the_message() -> None:
    room = LocalPubSubRoom()
    with as_current_job(new_job_context(room)):
        digits: list[object] = []
        stock = DTMFHandler(digits.append)
        await stock.start()
        room.publish(DTMF_TOPIC, dtmf_message(0))
        room.publish(DTMF_TOPIC, dtmf_message(7))
        await room.settle()
    assert digits == [7]  # why BusDTMFHandler exists


async def test_bus_handler_in_a_real_agent_session_hands_over_whole_messages() -> None:
    room = LocalPubSubRoom()
    with as_current_job(new_job_context(room)):
        received: list[object] = []

        async def on_message(message: object) -> None:
            received.append(message)

        handler = BusDTMFHandler(on_message)
        pipeline = RecordingPipeline()
        session = AgentSession(agent=IVRAgent(), pipeline=pipeline, dtmf_handler=handler)
        await session.start()  # subscribes the handler, as with the stock one
        try:
            assert list(room.subscriptions) == [DTMF_TOPIC]
            messages = [
                dtmf_message(0, msg_id="a"),
                dtmf_message("0", msg_id="b"),
                dtmf_message(1, msg_id="c"),
            ]
            for message in messages:
                room.publish(DTMF_TOPIC, message)
            await handler.drain()
            assert received == messages
            assert pipeline.spoken == [DEFAULT_GREETING]
        finally:
            await session.close()


async def test_bus_handler_logs_callback_errors_with_the_message_and_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    room = LocalPubSubRoom()
    with as_current_job(new_job_context(room)):
        seen: list[str] = []

        def on_message(message: Any) -> None:  # a plain function works, as with the stock one
            seen.append(message["id"])
            if message["id"] == "boom":
                raise RuntimeError("publisher down")

        handler = BusDTMFHandler(on_message)
        await handler.start()
        with caplog.at_level(logging.WARNING, logger=PACKAGE_LOGGER):
            room.publish(DTMF_TOPIC, dtmf_message(1, msg_id="boom"))
            room.publish(DTMF_TOPIC, "not a message")
            room.publish(DTMF_TOPIC, dtmf_message(2, msg_id="after"))
            await handler.drain()
    assert seen == ["boom", "after"]
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failed) == 1
    assert "'boom'" in failed[0].getMessage()
    assert failed[0].exc_info is not None
    assert any("not an object" in r.getMessage() for r in caplog.records)


async def test_bus_handler_needs_the_jobs_room() -> None:
    ctx = new_job_context(LocalPubSubRoom())
    ctx.room = None
    with as_current_job(ctx):
        handler = BusDTMFHandler(lambda message: None)
        with pytest.raises(RuntimeError, match="room"):
            await handler.start()


# --- message -> press -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "key"),
    [(1, "1"), (0, "0"), ("0", "0"), (9, "9"), ("*", "*"), ("#", "#"), ("a", "A")],
)
def test_press_from_message_reads_the_key_and_keeps_the_whole_message(
    number: object, key: str
) -> None:
    message = dtmf_message(number)
    press = press_from_message(message)
    assert press.key == key
    assert press.pressed_at == PRESSED_AT
    assert press.source_message_id == "32gwnzkt5we"
    assert press.participant_id == PARTICIPANT
    assert press.source_payload == message


@pytest.mark.parametrize(
    ("millis", "expected"),
    [
        ("1757332934706", PRESSED_AT),
        (1757332934706, PRESSED_AT),
        (None, SENT_AT),  # no press time: when PubSub sent it
        ("soon", SENT_AT),
        ("nan", SENT_AT),
        ("9" * 30, SENT_AT),
    ],
)
def test_press_time_is_the_payload_timestamp_else_the_message_timestamp(
    millis: object, expected: datetime
) -> None:
    assert press_from_message(dtmf_message(1, millis=millis)).pressed_at == expected


def test_press_time_is_none_without_any_timestamp() -> None:
    message = dtmf_message(1, millis=None)
    del message["timestamp"]
    assert press_from_message(message).pressed_at is None


def test_a_timestamp_without_offset_is_utc() -> None:
    message = dtmf_message(1, millis=None)
    message["timestamp"] = "2025-09-08T12:02:14.726"
    assert press_from_message(message).pressed_at == SENT_AT


def _without(message: dict[str, Any], field: str) -> dict[str, Any]:
    return {name: value for name, value in message.items() if name != field}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("1", "not an object"),
        (_without(dtmf_message(1), "payload"), "no payload"),
        ({**dtmf_message(1), "payload": "1"}, "no payload"),
        ({**dtmf_message(1), "payload": {"timestamp": "1757332934706"}}, "no number"),
        (dtmf_message(None), "no number"),
        (dtmf_message("X"), "invalid DTMF key 'X'"),
        (dtmf_message(12), "digits are 0-9"),
        (dtmf_message(True), "boolean"),
        (dtmf_message(1.0), "invalid DTMF key"),
    ],
)
def test_malformed_messages_say_why(message: object, reason: str) -> None:
    with pytest.raises(MalformedDTMFMessage, match=reason):
        press_from_message(message)


# --- a call through the real entrypoint -------------------------------------------------


async def test_key_presses_in_the_room_become_published_key_press_events() -> None:
    messages = [
        dtmf_message(1, msg_id="m1"),
        dtmf_message(0, msg_id="m2", millis="1757332935000"),
        dtmf_message("*", msg_id="m3"),
        dtmf_message("#", msg_id="m4"),
    ]
    async with live_call() as live:
        for message in messages:
            live.room.publish(DTMF_TOPIC, message)
        presses = await live.publisher.wait_for(KeyPress, len(messages), timeout=TIMEOUT_S)

    assert [p.key for p in presses] == ["1", "0", "*", "#"]
    assert [p.routing_key for p in presses] == ["dtmf.1", "dtmf.0", "dtmf.star", "dtmf.hash"]
    assert [p.sequence for p in presses] == [1, 2, 3, 4]
    assert [p.source_message_id for p in presses] == ["m1", "m2", "m3", "m4"]
    assert [p.source_payload for p in presses] == messages
    assert [p.pressed_at for p in presses] == [
        PRESSED_AT,
        datetime(2025, 9, 8, 12, 2, 15, tzinfo=UTC),
        PRESSED_AT,
        PRESSED_AT,
    ]
    for press in presses:
        assert press.source == "videosdk"
        assert press.call_id == ROOM_ID
        assert press.reply_to == EDGE_ID
        assert press.participant_id == PARTICIPANT
    events = live.publisher.events
    assert isinstance(events[0], CallStarted)
    assert events[0].call_id == ROOM_ID
    assert events[0].source == "videosdk"
    assert isinstance(events[-1], CallEnded)
    assert events[-1].reason == "session_ended"
    assert live.room.end_reasons == ["test_over"]
    assert live.room.left
    assert live.edge.calls.get(ROOM_ID) is None


async def test_malformed_messages_publish_nothing_and_later_presses_still_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=PACKAGE_LOGGER):
        async with live_call() as live:
            live.room.publish(DTMF_TOPIC, _without(dtmf_message(1, msg_id="bare"), "payload"))
            live.room.publish(DTMF_TOPIC, dtmf_message("X", msg_id="bad-key"))
            live.room.publish(DTMF_TOPIC, dtmf_message(2, msg_id="good"))
            await live.publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)

    [press] = live.publisher.of_type(KeyPress)
    assert (press.key, press.sequence, press.source_message_id) == ("2", 1, "good")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no payload" in w and "'bare'" in w for w in warnings)
    assert any("invalid DTMF key 'X'" in w and "'bad-key'" in w for w in warnings)


async def test_a_press_the_edge_sheds_is_answered_busy_in_the_room_and_the_call_goes_on() -> None:
    async with live_call(max_unanswered=1) as live:
        live.pipeline.spoke.clear()
        live.room.publish(DTMF_TOPIC, dtmf_message(1, msg_id="sent"))
        live.room.publish(DTMF_TOPIC, dtmf_message(2, msg_id="shed"))  # the first awaits a reply
        await asyncio.wait_for(live.pipeline.spoke.wait(), TIMEOUT_S)
        [first] = await live.publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)
        await live.edge.apply_reply(
            Reply(
                call_id=first.call_id,
                in_reply_to=first.event_id,
                service="sales",
                actions=[Say(text="Sales")],
            )
        )
        live.room.publish(DTMF_TOPIC, dtmf_message(3, msg_id="after"))
        presses = await live.publisher.wait_for(KeyPress, 2, timeout=TIMEOUT_S)

    assert live.pipeline.spoken == [DEFAULT_GREETING, BUSY_PROMPT, "Sales"]
    assert [(p.key, p.source_message_id) for p in presses] == [("1", "sent"), ("3", "after")]


async def test_a_reply_changes_the_real_agents_instructions_and_is_said() -> None:
    async with live_call() as live:
        live.room.publish(DTMF_TOPIC, dtmf_message(1))
        [press] = await live.publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)
        reply = Reply(
            call_id=press.call_id,
            in_reply_to=press.event_id,
            service="sales",
            actions=[
                SetInstructions(instructions="You are a Sales Representative."),
                Say(text="Routing you to Sales..."),
            ],
        )
        assert await live.edge.apply_reply(reply) == Outcome.REPLIED

        assert live.agent.instructions == "You are a Sales Representative."
        chat = [(item.role.value, item.content) for item in live.agent.chat_context.items]
        assert chat[-2:] == [
            ("system", ["You are a Sales Representative."]),
            ("assistant", ["Routing you to Sales..."]),
        ]
        assert live.pipeline.spoken == [DEFAULT_GREETING, "Routing you to Sales..."]


async def test_transfer_and_hangup_replies_reach_the_room_and_end_the_call() -> None:
    async with live_call() as live:
        live.room.publish(DTMF_TOPIC, dtmf_message(2))
        [press] = await live.publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)

        def reply(*actions: Say | Transfer | Hangup, service: str = "support") -> Reply:
            return Reply(
                call_id=press.call_id,
                in_reply_to=press.event_id,
                service=service,
                actions=list(actions),
            )

        assert (
            await live.edge.apply_reply(reply(Transfer(to="sip:support@example.com")))
            == Outcome.REPLIED
        )
        assert live.room.transfers == ["sip:support@example.com"]

        assert (
            await live.edge.apply_reply(
                reply(Say(text="Goodbye."), Hangup(reason="done"), service="survey")
            )
            == Outcome.REPLIED
        )
        async with asyncio.timeout(TIMEOUT_S):
            await live.job  # the room ended the session, so the job ends by itself

    assert live.room.end_reasons == ["done"]
    assert live.pipeline.spoken[-1] == "Goodbye."
    ended = [e for e in live.publisher.events if isinstance(e, CallEnded)]
    assert [e.reason for e in ended] == ["done"]
    assert live.edge.calls.get(ROOM_ID) is None
    # A reply that comes late finds no call.
    assert await live.edge.apply_reply(reply(Say(text="Still there?"))) == Outcome.STALE_CALL


# --- running jobs -----------------------------------------------------------------------


async def test_run_job_leaves_the_room_and_ends_the_call_when_asked_to_stop() -> None:
    publisher = RecordingPublisher()
    edge = Edge(edge_id=EDGE_ID, publisher=publisher)
    room = LocalPubSubRoom()
    stop = asyncio.Event()
    entrypoint = make_entrypoint(edge, pipeline_factory=RecordingPipeline)
    job = asyncio.create_task(run_job(new_job_context(room), entrypoint, stop=stop))
    await until(room.subscribed.wait(), job)
    room.publish(DTMF_TOPIC, dtmf_message(5))
    await publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)

    stop.set()
    async with asyncio.timeout(TIMEOUT_S):
        await job

    assert [e.type for e in publisher.events] == ["call_started", "key_press", "call_ended"]
    assert room.left
    assert room.end_reasons == []  # we left; the room did not end the session on us
    assert get_current_job_context() is None
    assert len(edge.calls) == 0


WORKER_PUBLISHER = RecordingPublisher()


@asynccontextmanager
async def worker_edge() -> AsyncIterator[Edge]:
    """Module-level, so a worker job built with it pickles into a job process."""
    yield Edge(edge_id="edge-worker", publisher=WORKER_PUBLISHER)


async def test_the_worker_job_is_the_sdks_own_with_a_picklable_entrypoint() -> None:
    settings = VideoSDKSettings(
        auth_token="test-token", room_id=ROOM_ID, agent_name="IVR", agent_id="ivr-edge"
    )
    job = build_worker_job(
        worker_edge,
        settings=settings,
        pipeline_factory=RecordingPipeline,
        max_calls=5,
        idle_processes=7,
    )

    assert isinstance(job, WorkerJob)
    assert asyncio.iscoroutinefunction(job.entrypoint)
    assert (job.options.agent_id, job.options.auth_token) == ("ivr-edge", "test-token")
    assert job.options.register is False
    # Calls per pod: the worker refuses a job once max_processes jobs run, not before.
    assert (job.options.max_processes, job.options.num_idle_processes) == (5, 5)
    assert job.options.load_threshold == 1.0
    assert job.options.host == "127.0.0.1"  # the SDK's debug server: not for the cluster
    ctx = job.jobctx()
    assert isinstance(ctx, JobContext)
    options = ctx.room_options
    assert (options.room_id, options.name, options.playground) == (ROOM_ID, "IVR", False)
    restored = pickle.loads(pickle.dumps(job.entrypoint))
    assert restored.func is job.entrypoint.func
    assert restored.args == job.entrypoint.args


async def test_the_worker_entrypoint_opens_its_own_edge_and_serves_the_call() -> None:
    settings = VideoSDKSettings(auth_token="test-token", room_id=ROOM_ID)
    job = build_worker_job(worker_edge, settings=settings, pipeline_factory=RecordingPipeline)
    room = LocalPubSubRoom()
    stop = asyncio.Event()
    running = asyncio.create_task(run_job(new_job_context(room), job.entrypoint, stop=stop))
    await until(room.subscribed.wait(), running)
    room.publish(DTMF_TOPIC, dtmf_message(0))
    [press] = await WORKER_PUBLISHER.wait_for(KeyPress, 1, timeout=TIMEOUT_S)
    room.end_session("caller_hung_up")
    async with asyncio.timeout(TIMEOUT_S):
        await running

    assert (press.key, press.reply_to, press.call_id) == ("0", "edge-worker", ROOM_ID)
    assert isinstance(WORKER_PUBLISHER.events[-1], CallEnded)


async def test_a_worker_job_joins_the_room_its_factory_gives_and_never_the_playground() -> None:
    room = LocalPubSubRoom()
    settings = VideoSDKSettings(auth_token="test-token", room_id=ROOM_ID)
    job = build_worker_job(
        worker_edge,
        settings=settings,
        pipeline_factory=RecordingPipeline,
        room_factory=lambda ctx: room,
    )
    # What the registered worker builds for a job: playground on, VideoSDK's room to join.
    ctx = JobContext(room_options=RoomOptions(room_id=ROOM_ID, playground=True))
    stop = asyncio.Event()
    running = asyncio.create_task(run_job(ctx, job.entrypoint, stop=stop))
    await until(room.subscribed.wait(), running)
    assert (ctx.room_options.playground, ctx.room_options.join_meeting) == (False, False)
    room.end_session("caller_hung_up")
    async with asyncio.timeout(TIMEOUT_S):
        await running
    assert room.left


def test_a_worker_job_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="VIDEOSDK_AUTH_TOKEN"):
        build_worker_job(worker_edge, settings=VideoSDKSettings(room_id=ROOM_ID))


def test_settings_from_env() -> None:
    settings = VideoSDKSettings.from_env(
        {
            "VIDEOSDK_AUTH_TOKEN": "tok",
            "VIDEOSDK_ROOM_ID": "room-1",
            "DTMF_VIDEOSDK_AGENT_NAME": "Menu",
            "DTMF_VIDEOSDK_PIPELINE": "videosdk.agents:Pipeline",
        }
    )
    assert (settings.auth_token, settings.room_id, settings.agent_name) == ("tok", "room-1", "Menu")
    assert settings.playground is False
    assert settings.pipeline_factory() is Pipeline
    assert VideoSDKSettings.from_env({}).auth_token is None


@pytest.mark.parametrize("spec", ["no_colon", "videosdk.agents:", "videosdk.agents:__doc__"])
def test_a_bad_pipeline_factory_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="pipeline factory"):
        VideoSDKSettings(pipeline=spec).pipeline_factory()


# --- the pod: one /metrics for every job process --------------------------------------------

JOB_PROCESS = """
import sys
from pathlib import Path
from services.runtime.metrics import Metrics, sample_gauges, share_through
share_through(Path(sys.argv[1]))
metrics = Metrics(service="edge-pod")
metrics.presses_received.labels("1", "videosdk").inc()
metrics.press_to_reply.observe(0.02)
metrics.messages_handled.labels("edge-pod-" + sys.argv[2], "replied").inc()
metrics.live_calls.set_function(lambda: 1.0)
sample_gauges()
print("ready", flush=True)
sys.stdin.read()
"""


def _scrape(view: PodView) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in view.registry.collect()
        for s in family.samples
    }


def test_the_pod_view_merges_its_processes_and_forgets_the_dead(tmp_path: Path) -> None:
    jobs = [
        subprocess.Popen(
            [sys.executable, "-c", JOB_PROCESS, str(tmp_path), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],  # where `services` imports from
        )
        for n in range(3)
    ]
    try:
        for job in jobs:
            assert job.stdout is not None and job.stdout.readline() == "ready\n"
        with sharing(tmp_path):  # the worker: its own series, read from a function
            worker = Metrics(service="edge-pod")
            worker.broker_connected.labels("edge-pod-worker").set_function(lambda: 1.0)
            view = PodView(tmp_path)
            merged = _scrape(view)
            assert (
                merged[
                    (
                        "dtmf_presses_received_total",
                        frozenset({("key", "1"), ("source", "videosdk")}),
                    )
                ]
                == 3
            )
            assert merged[("dtmf_press_to_reply_seconds_count", frozenset())] == 3
            assert merged[("dtmf_press_to_reply_seconds_bucket", frozenset({("le", "0.05")}))] == 3
            assert merged[("dtmf_live_calls", frozenset())] == 3
            handled = {k: v for k, v in merged.items() if k[0] == "dtmf_messages_handled_total"}
            assert handled == {
                (
                    "dtmf_messages_handled_total",
                    frozenset({("service", "edge-pod"), ("outcome", "replied")}),
                ): 3
            }
            assert merged[("dtmf_broker_connected", frozenset({("service", "edge-pod")}))] == 1

            jobs[0].kill()
            jobs[0].wait()  # gone
            jobs[1].kill()  # exited, not yet reaped: a zombie is dead too
            os.waitid(os.P_PID, jobs[1].pid, os.WEXITED | os.WNOWAIT)
            after = _scrape(view)
            assert after[("dtmf_live_calls", frozenset())] == 1
            # Counters of dead processes stay: totals never go backwards.
            assert after[("dtmf_press_to_reply_seconds_count", frozenset())] == 3
        assert not getattr(Metrics().live_calls._value, "_multiprocess", False)
    finally:
        for job in jobs:
            job.kill()
            job.communicate()


def test_the_service_label_is_pinned_to_the_pods_only_when_asked() -> None:
    pinned, own = Metrics(service="edge-pod"), Metrics()
    for metrics in (pinned, own):
        metrics.messages_handled.labels("edge-pod-1a2b", "replied").inc()
        metrics.handler_duration.labels(service="edge-pod-1a2b").observe(0.1)
    assert pinned.messages_handled.labels("anything", "replied")._value.get() == 1
    assert own.messages_handled.labels("edge-pod-1a2b", "replied")._value.get() == 1
    assert pinned.handler_duration.labels(service="x")._sum.get() == pytest.approx(0.1)


def test_a_series_asked_for_again_by_position_or_by_name_is_the_same_series() -> None:
    pinned, own = Metrics(service="edge-pod"), Metrics()
    for metrics in (pinned, own):
        first = metrics.presses_received.labels("1", "videosdk")
        assert metrics.presses_received.labels("1", "videosdk") is first  # kept, not rebuilt
        first.inc()
        metrics.presses_received.labels(key="1", source="videosdk").inc()
        metrics.presses_received.labels("2", "videosdk").inc()
        got = metrics.registry.get_sample_value(
            "dtmf_presses_received_total", {"key": "1", "source": "videosdk"}
        )
        assert got == 2
    # Pinned, two edge ids asked for by position are the pod's one series.
    a, b = (pinned.messages_handled.labels(e, "replied") for e in ("edge-1", "edge-2"))
    assert a is b
    a.inc()
    b.inc()
    assert (
        pinned.registry.get_sample_value(
            "dtmf_messages_handled_total", {"service": "edge-pod", "outcome": "replied"}
        )
        == 2
    )


class _Registry:
    is_connected = True


class _Worker:
    backend_connection: _Registry | None = _Registry()


class _Link:
    up = True


def test_the_pod_is_ready_when_registered_and_connected_until_it_stops() -> None:
    worker, link = _Worker(), _Link()
    pod = EdgePod(worker, link)  # type: ignore[arg-type]
    assert pod.readiness() == "not registered with VideoSDK"  # not started yet
    pod.running = asyncio.Future()  # type: ignore[assignment]
    assert pod.readiness() is None
    link.up = False
    assert pod.readiness() == "not connected to the broker"
    worker.backend_connection = None
    assert pod.readiness() == "not registered with VideoSDK"
    pod.stopping = True
    assert pod.readiness() == "stopping: taking no new calls"


# --- in-band DTMF: tones in the caller's audio ---------------------------------------------


class HearingPipeline(RecordingPipeline):
    """Also records the caller audio the pipeline passes on to VAD/STT (`on_audio_delta`)."""

    def __init__(self) -> None:
        super().__init__()
        self.heard = bytearray()

    async def on_audio_delta(self, audio_data: bytes) -> None:
        self.heard += audio_data
        await super().on_audio_delta(audio_data)


class CallerTrack:
    """The caller's audio track as the SDK's input stream reads it: `recv()` -> av frames,
    48 kHz stereo s16 in 20 ms frames like a WebRTC leg, then the end of the track."""

    RATE = 48000

    def __init__(self, signal: Any) -> None:
        pcm = np.round(signal).astype(np.int16)
        self._frames = []
        for start in range(0, len(pcm) - 959, 960):
            stereo = np.repeat(pcm[start : start + 960], 2)[None, :]
            frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
            frame.sample_rate = self.RATE
            self._frames.append(frame)

    async def recv(self) -> Any:
        if not self._frames:
            raise MediaStreamError
        return self._frames.pop(0)


def _caller_audio(*keys_ms: tuple[str, int]) -> Any:
    rate, parts = CallerTrack.RATE, [np.zeros(CallerTrack.RATE // 5)]
    for key, ms in keys_ms:
        t = np.arange(rate * ms // 1000) / rate
        row, column = frequencies(key)
        a = dbm0_amplitude(-12)
        parts += [a * (np.sin(2 * np.pi * row * t) + np.sin(2 * np.pi * column * t))]
        parts += [np.zeros(rate // 5)]
    return np.concatenate(parts)


@pytest.fixture
def _fresh_audio_format() -> Iterator[None]:
    audio_format.reset()  # the SDK keeps the input format per process
    yield
    audio_format.reset()


@pytest.mark.usefixtures("_fresh_audio_format")
async def test_tones_in_the_callers_audio_are_presses_once_and_never_reach_the_stt() -> None:
    pipeline = HearingPipeline()
    async with live_call(key_sources=SourcePolicy.BOTH, pipeline=pipeline) as live:
        # "5": both the gateway (PubSub, at the tone's start) and the tone; "9": tone only,
        # a carrier that sends no RFC 4733 events for it.
        live.room.publish(DTMF_TOPIC, dtmf_message(5, msg_id="g5"))
        await live.publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)
        track = CallerTrack(_caller_audio(("5", 120), ("9", 80)))
        stream = type("Stream", (), {"track": track, "id": "caller-audio"})()
        # The SDK's own reader of a participant's audio: av frame -> PCM -> the pipeline.
        await InputStreamManager(pipeline=live.pipeline).add_audio_listener(stream)
        presses = await live.publisher.wait_for(KeyPress, 2, timeout=TIMEOUT_S)

    assert [(p.key, p.source) for p in presses] == [("5", "videosdk"), ("9", "inband")]
    assert [p.sequence for p in presses] == [1, 2]
    inband = presses[1]
    assert inband.duration_ms is not None and abs(inband.duration_ms - 80) <= 13
    assert inband.source_payload["sample_rate"] == CallerTrack.RATE
    assert inband.pressed_at < inband.received_at
    heard = np.frombuffer(bytes(pipeline.heard), dtype="<i2").reshape(-1, 2)[:, 0]
    sent = _caller_audio(("5", 120), ("9", 80))[: len(heard)]
    assert len(heard) > 0.5 * CallerTrack.RATE
    # What went on to VAD/STT: the tones removed (the first few ms may leak), no louder.
    assert np.sum(heard.astype(float) ** 2) <= 0.06 * np.sum(sent**2)


@pytest.mark.usefixtures("_fresh_audio_format")
async def test_the_gateway_policy_runs_no_detector_and_leaves_the_audio_alone() -> None:
    pipeline = HearingPipeline()
    async with live_call(key_sources=SourcePolicy.GATEWAY, pipeline=pipeline) as live:
        track = CallerTrack(_caller_audio(("7", 100)))
        stream = type("Stream", (), {"track": track, "id": "caller-audio"})()
        await InputStreamManager(pipeline=live.pipeline).add_audio_listener(stream)
        live.room.publish(DTMF_TOPIC, dtmf_message(3, msg_id="g3"))
        presses = await live.publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)

    assert [(p.key, p.source) for p in presses] == [("3", "videosdk")]
    heard = np.frombuffer(bytes(pipeline.heard), dtype="<i2").reshape(-1, 2)[:, 0]
    sent = np.round(_caller_audio(("7", 100))).astype(np.int16)
    np.testing.assert_array_equal(heard, sent[: len(heard)])


@pytest.mark.usefixtures("_fresh_audio_format")
async def test_the_inband_policy_ignores_the_gateways_events() -> None:
    async with live_call(key_sources=SourcePolicy.INBAND) as live:
        live.room.publish(DTMF_TOPIC, dtmf_message(1, msg_id="g1"))
        track = CallerTrack(_caller_audio(("#", 100)))
        stream = type("Stream", (), {"track": track, "id": "caller-audio"})()
        await InputStreamManager(pipeline=live.pipeline).add_audio_listener(stream)
        presses = await live.publisher.wait_for(KeyPress, 1, timeout=TIMEOUT_S)

    assert [(p.key, p.source) for p in presses] == [("#", "inband")]
