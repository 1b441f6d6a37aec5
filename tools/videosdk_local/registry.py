"""A local stand-in for VideoSDK's agent registry."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tools.videosdk_local.support import Watched

TOKEN = "local-token"  # never leaves this machine


class LocalRegistry(Watched):
    """Stands in for VideoSDK's agent registry: the worker registers on its websocket, and the
    user sends it the registry's messages (availability_request, job_assignment)."""

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
