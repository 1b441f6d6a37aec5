"""The HTTP side of every process: /metrics, /healthz (alive), /readyz (useful)."""

from __future__ import annotations

import errno
import gzip
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

log = logging.getLogger(__name__)

# Returns None when ready, else why not.
Readiness = Callable[[], str | None]


class Scraped(Protocol):
    """What /metrics serves: a process's `Metrics`, or a pod's merged view."""

    @property
    def registry(self) -> CollectorRegistry: ...


def build_app(metrics: Scraped, readiness: Readiness) -> web.Application:
    async def metrics_view(request: web.Request) -> web.Response:
        return exposition(metrics.registry, request)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        problem = readiness()
        if problem is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {problem}\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def exposition(registry: CollectorRegistry, request: web.Request) -> web.Response:
    """prometheus_client's own exposition: OpenMetrics (with exemplars) to a scraper that
    asks for it, the text format otherwise; gzipped when accepted; `name[]` filters."""
    encode, content_type = choose_encoder(request.headers.get(hdrs.ACCEPT, ""))
    names = request.query.getall("name[]", [])
    body = encode(registry.restricted_registry(names) if names else registry)
    headers = {hdrs.CONTENT_TYPE: content_type}
    if gzip_accepted(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
        body = gzip.compress(body)
        headers[hdrs.CONTENT_ENCODING] = "gzip"
    return web.Response(body=body, headers=headers)


@asynccontextmanager
async def http_server(
    metrics: Scraped, readiness: Readiness, *, host: str, port: int
) -> AsyncIterator[int | None]:
    """Serve while inside; yields the bound port (None when port is -1: turned off)."""
    if port < 0:
        yield None
        return
    runner = web.AppRunner(build_app(metrics, readiness), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as error:
        if error.errno != errno.EADDRINUSE or port == 0:
            raise
        # Several services started by hand on one machine: don't die over a metrics port.
        log.warning("port %d is in use; serving metrics and health on a free port", port)
        await web.TCPSite(runner, host, 0).start()
    bound: int = runner.addresses[0][1]
    log.info("metrics and health on http://%s:%d/ (/metrics /healthz /readyz)", host, bound)
    try:
        yield bound
    finally:
        await runner.cleanup()
