"""A round-robin TCP balancer on loopback in front of the cluster's AMQP ports.

It does what a Kubernetes Service does for the clients: each new connection goes to the
next node that accepts one, so a reconnect may land on any node; when a node dies, the
connections it carried drop. It runs an event loop in a thread of its own, so it keeps
relaying while the test's loop is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Sequence
from urllib.parse import quote

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"  # the only address this ever binds or connects to
CONNECT_TIMEOUT_S = 1.0
CHUNK = 64 * 1024
MAX_CLIENTS = 256  # bounded: beyond this, new connections are closed at once


class Balancer:
    def __init__(self, backend_ports: Sequence[int]) -> None:
        self._backends = list(backend_ports)
        self._next = 0
        self.port = 0
        # backend port -> connections it was given (read by tests from their own thread)
        self.connections: Counter[int] = Counter()
        self.refused = 0  # client connections no backend accepted
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="balancer", daemon=True)

    def url(self, vhost: str = "/") -> str:
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}/{quote(vhost, safe='')}"

    def start(self) -> Balancer:
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError("balancer did not start")
        return self

    def close(self) -> None:
        """Stop listening and drop every relayed connection; returns once the thread ended."""
        if self._stopped is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def __enter__(self) -> Balancer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        log.info("balancer on %s:%d -> %s", LOOPBACK, self.port, self._backends)
        async with server:
            await self._stopped.wait()
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._tasks) >= MAX_CLIENTS:
            client_w.close()
            return
        self._tasks.add(task)
        try:
            backend = await self._open_backend()
            if backend is None:
                self.refused += 1
                return
            backend_r, backend_w = backend
            try:
                # Either side closing ends both directions: a client sees its node die.
                pipes = [
                    asyncio.ensure_future(_pipe(client_r, backend_w)),
                    asyncio.ensure_future(_pipe(backend_r, client_w)),
                ]
                try:
                    await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for pipe in pipes:
                        pipe.cancel()
                    await asyncio.gather(*pipes, return_exceptions=True)
            finally:
                backend_w.close()
        finally:
            client_w.close()
            self._tasks.discard(task)

    async def _open_backend(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next backend in turn that accepts a connection, or None if none does."""
        for _ in range(len(self._backends)):
            port = self._backends[self._next % len(self._backends)]
            self._next += 1
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    streams = await asyncio.open_connection(LOOPBACK, port)
                self.connections[port] += 1
                return streams
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()  # bounded: a slow reader holds back the sender
