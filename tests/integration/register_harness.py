"""Local stand-ins for VideoSDK's network side, for running the edge pod through the SDK's
real worker job machinery on this machine (tests/integration/test_register_mode.py and the
benchmark's register phase, bench/register).

- `LocalRegistry`: VideoSDK's agent registry, a local websocket that sends the registry's
  messages (availability requests, job assignments) as its user decides. Point the SDK's
  ``fetch_agent_init_config`` at it.
- `HubRoom`: a job's room, given by the pod's room factory seam (`hub_room`) instead of
  VideoSDK's room; it takes its ``DTMF_EVENT`` PubSub messages, in the documented format,
  from a `RoomHub` over a local websocket and reports what the agent said (`HubPipeline`, a
  real Pipeline without STT/LLM/TTS providers) and its process id.

Not verified by anything built on these: that VideoSDK's registry dispatches jobs this way
(the protocol is read from videosdk-agents 1.0.30, not observed on the wire), its init-config
API, joining a real room, media, and PubSub delivery by VideoSDK.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from videosdk.agents import Pipeline

from services.edge.videosdk.agent import DEFAULT_GREETING
from services.edge.videosdk.messages import DTMF_TOPIC
from services.runtime.metrics import sample_gauges
from tests.unit.test_videosdk import LocalPubSubRoom, dtmf_message

TOKEN = "local-token"  # never leaves this machine
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

    def __init__(self, *, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s  # how long the worker may take to register and to answer
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
        await self.until(lambda: self._ws is not None, timeout=self.timeout_s, what="registered")
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
        return await self.reply("availability_response", job_id, timeout=self.timeout_s)

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
        """A press now: its payload stamped with this moment, as VideoSDK stamps the tone's."""
        now_ms = str(time.time_ns() // 1_000_000)
        message = dtmf_message(number, msg_id=f"m{next(self.messages)}", millis=now_ms)
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


async def get(port: int | None, path: str) -> tuple[int, str]:
    """Status and body of the pod's HTTP side (listening on `port`) at `path`."""
    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


async def scrape(port: int | None) -> Samples:
    status, text = await get(port, "/metrics")
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
