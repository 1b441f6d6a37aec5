"""The edge pod as Kubernetes runs it (``dtmf-bus edge --source videosdk --register``), driven
through the SDK's real worker job machinery.

Real: videosdk-agents' `Worker` with its process executor (each job in a process of its own,
forked by the SDK's fork server), its `BackendConnection` speaking the registry protocol over
a websocket, its availability check, job assignment and job updates; in each job process the
SDK's `_execute_job_entrypoint`, `JobContext.run_until_shutdown`, `AgentSession`, `Agent`,
`Pipeline`, our DTMF handler and Edge; RabbitMQ (a private vhost) with the real sales,
support, menu and call log services; the pod's /metrics, /healthz and /readyz over HTTP.

Stood in for, and nothing else:

- VideoSDK's agent registry: `LocalRegistry`, a local websocket that sends the registry's
  messages (availability requests, job assignments) as a test decides. The registry URL comes
  from it instead of VideoSDK's init-config API (``fetch_agent_init_config``, patched).
- The rooms: each job joins a `HubRoom` (the unit tests' local room) given by the pod's room
  factory seam instead of VideoSDK's room; it takes its ``DTMF_EVENT`` PubSub messages, in
  the documented format, from the test over a local websocket and reports what the agent
  said (`HubPipeline`, a real Pipeline without STT/LLM/TTS providers).

Not verified here: that VideoSDK's registry dispatches jobs this way (the protocol is read
from videosdk-agents 1.0.30, not observed on the wire), its init-config API, joining a real
room, media, and PubSub delivery by VideoSDK.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from videosdk.agents import Pipeline

from services.edge.videosdk.agent import DEFAULT_GREETING
from services.edge.videosdk.messages import DTMF_TOPIC
from services.edge.videosdk.pod import EdgePod, running_pod
from services.edge.videosdk.settings import VideoSDKSettings
from services.runtime.metrics import sample_gauges
from services.runtime.settings import Settings
from tests.integration.conftest import System
from tests.unit.test_videosdk import LocalPubSubRoom, dtmf_message

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CALLS = 5
TOKEN = "local-token"  # never leaves this machine
AGENT_ID = "dtmf-bus-test"
POD = "pod-test"
SALES, SUPPORT = "Routing you to Sales...", "Routing you to Support..."
# Bounds, generous for a busy 2-core machine: a job process starts and its call comes up
# (the SDK allows a process 30 s to start, then the broker connection and the agent); a
# press is answered, or the worker reports a job's end (its process polls take 1 s turns).
CALL_UP_S = 90.0
ANSWER_S = 30.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# --- in the job processes (module-level: the SDK pickles them by reference) ----------------


class HubRoom(LocalPubSubRoom):
    """A job's room: PubSub messages come from the test's hub, what happens goes back to it."""

    current: HubRoom | None = None  # a job process serves one call at a time

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reports: set[asyncio.Task[None]] = set()
        HubRoom.current = self

    async def connect(self) -> None:
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(self._url)
        await self.report({"pid": os.getpid()})
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            data = json.loads(message.data)
            if "publish" in data:
                self.publish(DTMF_TOPIC, data["publish"])
            elif "end" in data:
                self.end_session(data["end"])

    async def subscribe_to_pubsub(self, config: dict[str, Any]) -> list[Any]:
        earlier = await super().subscribe_to_pubsub(config)
        # The call is live: its process's gauges go to the pod's files now rather than at
        # the job's next tick (every SAMPLE_EVERY_S), so the test can scrape right away.
        sample_gauges()
        await self.report({"subscribed": config["topic"]})
        return earlier

    async def report(self, data: dict[str, Any]) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps(data))

    def report_soon(self, data: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self.report(data))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def cleanup(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()


def hub_room(hub_url: str, ctx: Any) -> HubRoom:
    """The pod's room factory in this test: the room named in the job's assignment."""
    return HubRoom(f"{hub_url}/rooms/{ctx.room_options.room_id}")


class HubPipeline(Pipeline):  # type: ignore[misc]
    """A real Pipeline without providers that reports what the agent says to the hub."""

    async def send_message(self, message: str, handle: Any, audio_data: Any = None) -> None:
        await super().send_message(message, handle=handle, audio_data=audio_data)
        if HubRoom.current is not None:
            # Reported from a task of its own, which starts once this one awaits again: by
            # then Edge.apply_reply has applied and counted the reply that said it.
            HubRoom.current.report_soon({"said": message})


# --- in the test process ---------------------------------------------------------------------


class Watched:
    """State the test waits on: changed under a condition, waited for with a bound."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, done: Callable[[], bool], *, timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            raise AssertionError(f"not within {timeout:.0f}s: {what}") from None


class LocalRegistry(Watched):
    """Stands in for VideoSDK's agent registry: the worker registers on its websocket, and the
    test sends it the registry's messages (availability_request, job_assignment)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict[str, Any]] = []
        self._ws: web.WebSocketResponse | None = None

    async def agent(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            data = json.loads(message.data)
            if data["type"] == "register":
                self._ws = ws
                await ws.send_str(
                    json.dumps({"type": "register", "success": True, "worker_id": "w1"})
                )
            else:
                self.received.append(data)
            await self.changed()
        return ws

    async def send(self, **message: Any) -> None:
        await self.until(lambda: self._ws is not None, timeout=ANSWER_S, what="registered")
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def reply(
        self, kind: str, job_id: str, *, timeout: float, **match: Any
    ) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            wanted = {"type": kind, "job_id": job_id, **match}
            for data in self.received:
                if all(data.get(k) == v for k, v in wanted.items()):
                    return data
            return None

        await self.until(lambda: found() is not None, timeout=timeout, what=f"{kind} {job_id}")
        result = found()
        assert result is not None
        return result

    async def availability(self, job_id: str) -> dict[str, Any]:
        await self.send(type="availability_request", job_id=job_id, room_id=f"room-{job_id}")
        return await self.reply("availability_response", job_id, timeout=ANSWER_S)

    async def assign(self, job_id: str) -> None:
        await self.send(
            type="job_assignment",
            job_id=job_id,
            room_id=f"room-{job_id}",
            token=TOKEN,
            room_options={"playground": False},
        )


@dataclass
class Room:
    """The test's end of one job's room."""

    ws: web.WebSocketResponse
    pid: int = 0
    subscribed: bool = False
    said: list[str] = field(default_factory=list)
    messages: itertools.count[int] = field(default_factory=itertools.count)

    async def press(self, number: int) -> None:
        message = dtmf_message(number, msg_id=f"m{next(self.messages)}")
        await self.ws.send_str(json.dumps({"publish": message}))

    async def hang_up(self) -> None:
        await self.ws.send_str(json.dumps({"end": "caller_hung_up"}))


class RoomHub(Watched):
    def __init__(self) -> None:
        super().__init__()
        self.rooms: dict[str, Room] = {}

    async def room(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        room = self.rooms[request.match_info["room"]] = Room(ws)
        async for message in ws:
            data = json.loads(message.data)
            room.pid = data.get("pid", room.pid)
            room.subscribed = room.subscribed or data.get("subscribed") == DTMF_TOPIC
            if "said" in data:
                room.said.append(data["said"])
            await self.changed()
        return ws

    def up(self, room_id: str) -> bool:
        room = self.rooms.get(room_id)
        return room is not None and room.subscribed and DEFAULT_GREETING in room.said


@asynccontextmanager
async def serving(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def get(pod: EdgePod, path: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{pod.http_port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def scrape(pod: EdgePod) -> Samples:
    status, text = await get(pod, "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def replied(hub: RoomHub, jobs: list[str], count: int) -> Callable[[], bool]:
    """Every call of `jobs` has heard `count` things (the greeting included)."""
    return lambda: all(len(hub.rooms[f"room-{job}"].said) >= count for job in jobs)


# --- the test --------------------------------------------------------------------------------


@pytest.fixture
def no_videosdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK writes a token it resolves, and the worker id the registry gave, into
    # os.environ: setting each name first makes monkeypatch restore it afterwards.
    for name in (
        "VIDEOSDK_AUTH_TOKEN",
        "VIDEOSDK_API_KEY",
        "VIDEOSDK_SECRET_KEY",
        f"VIDEOSDK_WORKER_ID_{AGENT_ID.upper()}",
        "PROMETHEUS_MULTIPROC_DIR",
    ):
        monkeypatch.setenv(name, "set-by-test")
        monkeypatch.delenv(name)


async def test_the_pod_serves_calls_each_in_its_own_process_with_one_metrics_endpoint(
    system: System, monkeypatch: pytest.MonkeyPatch, no_videosdk_environment: None
) -> None:
    registry, hub = LocalRegistry(), RoomHub()
    pod_settings: Settings = replace(
        system.settings,
        edge_id=POD,
        http_host="127.0.0.1",
        http_port=0,
        edge_max_calls=CALLS,
        edge_idle_processes=2,
        reply_timeout_s=ANSWER_S,  # a busy machine is slow, not a silent service
    )
    async with (
        serving([web.get("/agent", registry.agent)]) as registry_at,
        serving([web.get("/rooms/{room}", hub.room)]) as hub_at,
    ):

        async def local_registry_url(**_: object) -> str:
            return f"ws://{registry_at}/"

        monkeypatch.setattr("videosdk.agents.worker.fetch_agent_init_config", local_registry_url)
        async with running_pod(
            pod_settings,
            videosdk=VideoSDKSettings(auth_token=TOKEN, agent_id=AGENT_ID, agent_name="IVR"),
            pipeline_factory=HubPipeline,
            room_factory=functools.partial(hub_room, f"ws://{hub_at}"),
            sdk_port=0,
        ) as pod:
            assert (await get(pod, "/healthz"))[0] == 200
            await _five_calls_answered_and_merged(pod, registry, hub)
            await _a_sixth_call_is_refused(pod, registry)
            await _a_killed_call_leaves_the_others_answering(pod, registry, hub)
            for job in ALIVE:
                await hub.rooms[f"room-{job}"].hang_up()
            for job in ALIVE:
                await registry.reply("job_update", job, timeout=ANSWER_S, status="completed")
            assert total(await scrape(pod), "dtmf_live_calls") == 0


JOBS = [str(n) for n in range(1, CALLS + 1)]
ALIVE = ["1", "2", "4", "5"]  # job 3 is killed
# Each call presses its own order of keys, so a reply that reached the wrong call shows.
ORDERS = list(itertools.permutations((1, 2, 9)))[:CALLS]
SPOKEN = {1: SALES, 2: SUPPORT}


async def _five_calls_answered_and_merged(
    pod: EdgePod, registry: LocalRegistry, hub: RoomHub
) -> None:
    for job in JOBS:
        assert (await registry.availability(job))["available"] is True
        if job == JOBS[0]:  # it answered over its registry connection: registered
            assert await get(pod, "/readyz") == (200, "ready\n")
        await registry.assign(job)
    await hub.until(
        lambda: all(hub.up(f"room-{job}") for job in JOBS), timeout=CALL_UP_S, what="calls up"
    )
    pids = {hub.rooms[f"room-{job}"].pid for job in JOBS}
    assert len(pids) == CALLS and os.getpid() not in pids  # a process of its own each

    for turn in range(3):
        for job, order in zip(JOBS, ORDERS, strict=True):
            await hub.rooms[f"room-{job}"].press(order[turn])
        await hub.until(replied(hub, JOBS, 2 + turn), timeout=ANSWER_S, what=f"turn {turn + 1}")
    for job, order in zip(JOBS, ORDERS, strict=True):
        greeting, *replies = hub.rooms[f"room-{job}"].said
        assert greeting == DEFAULT_GREETING
        for key, reply in zip(order, replies, strict=True):
            assert reply == SPOKEN[key] if key in SPOKEN else reply.startswith("Invalid input")

    samples = await scrape(pod)  # one scrape: every call's presses, merged
    presses = CALLS * 3
    for key in ("1", "2", "9"):
        assert total(samples, "dtmf_presses_received_total", key=key, source="videosdk") == CALLS
    assert total(samples, "dtmf_press_to_reply_seconds_count") == presses
    assert total(samples, "dtmf_press_to_reply_seconds_bucket", le="+Inf") == presses
    assert total(samples, "dtmf_replies_applied_total", outcome="applied") == presses
    assert total(samples, "dtmf_events_confirmed_total", type="key_press") == presses
    assert total(samples, "dtmf_live_calls") == CALLS
    # One edge, the pod: no series per call or per job process.
    services = {dict(ls)["service"] for (n, ls) in samples if n == "dtmf_broker_connected"}
    assert services == {f"edge-{POD}"}
    assert total(samples, "dtmf_broker_connected") == 1


async def _a_sixth_call_is_refused(pod: EdgePod, registry: LocalRegistry) -> None:
    refused = await registry.availability("6")
    assert (refused["available"], refused["error"]) == (False, "Worker at capacity or draining")
    assert await get(pod, "/readyz") == (200, "ready\n")  # full is not unready


async def _a_killed_call_leaves_the_others_answering(
    pod: EdgePod, registry: LocalRegistry, hub: RoomHub
) -> None:
    before = total(await scrape(pod), "dtmf_presses_received_total")
    os.kill(hub.rooms["room-3"].pid, signal.SIGKILL)
    # The worker notices its job process is gone and frees the call's place.
    await registry.reply("job_update", "3", timeout=ANSWER_S, status="completed")
    assert (await registry.availability("7"))["available"] is True
    assert await get(pod, "/readyz") == (200, "ready\n")
    assert (await get(pod, "/healthz"))[0] == 200

    for job in ALIVE:
        await hub.rooms[f"room-{job}"].press(1)
    await hub.until(replied(hub, ALIVE, 5), timeout=ANSWER_S, what="answered after the kill")
    assert all(hub.rooms[f"room-{job}"].said[4:] == [SALES] for job in ALIVE)
    samples = await scrape(pod)
    assert total(samples, "dtmf_live_calls") == len(ALIVE)  # the dead process's is dropped
    # What the killed process counted stays counted: totals never go backwards.
    assert total(samples, "dtmf_presses_received_total") == before + len(ALIVE)
