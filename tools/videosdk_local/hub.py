"""The rooms of the pod's jobs, on this machine: each job process's room (`HubRoom`) talks to
one hub (`RoomHub`) in the process that drives the calls."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from videosdk.agents import Pipeline

from services.edge.videosdk.agent import DEFAULT_GREETING
from services.edge.videosdk.messages import DTMF_TOPIC
from services.runtime.metrics import sample_gauges
from tools.videosdk_local.room import LocalPubSubRoom, dtmf_message
from tools.videosdk_local.support import Watched

# --- in the job processes (module-level: the SDK pickles them by reference) ----------------


class HubRoom(LocalPubSubRoom):
    """A job's room: PubSub messages come from the hub, what happens goes back to it."""

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
        # the job's next tick (every SAMPLE_EVERY_S), so the hub's user can scrape right away.
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
    """The pod's room factory here: the room named in the job's assignment."""
    return HubRoom(f"{hub_url}/rooms/{ctx.room_options.room_id}")


class HubPipeline(Pipeline):  # type: ignore[misc]
    """A real Pipeline without providers that reports what the agent says to the hub."""

    async def send_message(self, message: str, handle: Any, audio_data: Any = None) -> None:
        await super().send_message(message, handle=handle, audio_data=audio_data)
        if HubRoom.current is not None:
            # Reported from a task of its own, which starts once this one awaits again: by
            # then Edge.apply_reply has applied and counted the reply that said it.
            HubRoom.current.report_soon({"said": message})


# --- in the process that drives the calls ----------------------------------------------------


@dataclass
class Room:
    """The driver's end of one job's room."""

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
    """Where every job's room connects (/rooms/{room}): what each said, and its process."""

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
        """The call in this room takes presses and its caller has heard the greeting."""
        room = self.rooms.get(room_id)
        return room is not None and room.subscribed and DEFAULT_GREETING in room.said
