"""tools.sip_gateway against a local stand-in for the VideoSDK SIP API.

The stand-in is a real HTTP server on 127.0.0.1 that records every request and answers the
way the documented API does, so nothing here reaches the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from tools.sip_gateway import (
    DEFAULT_API_BASE,
    GatewayError,
    add_arguments,
    run,
    upsert_inbound_gateway,
)

TOKEN = "test-jwt-token"
GATEWAYS = "/v2/sip/inbound-gateways"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    body: Any


@dataclass
class FakeVideoSDK:
    """In-memory inbound gateways behind the documented routes."""

    base: str = ""
    per_page: int = 10
    requests: list[Recorded] = field(default_factory=list)
    gateways: dict[str, dict[str, Any]] = field(default_factory=dict)
    # When set, every request gets this answer instead of the normal behaviour.
    canned: Callable[[], web.StreamResponse] | None = None
    # Set when a test wants the server to hang until the client gives up.
    stall: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def seed(self, gateway_id: str, name: str, numbers: list[str]) -> None:
        self.gateways[gateway_id] = {
            "id": gateway_id,
            "name": name,
            "numbers": numbers,
            "enableDtmf": False,
        }

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record, self._auth])
        app.router.add_get(GATEWAYS, self._list)
        app.router.add_post(GATEWAYS, self._create)
        app.router.add_patch(GATEWAYS + "/{gateway_id}", self._update)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.text()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=CIMultiDict(request.headers),
                body=json.loads(raw) if raw else None,
            )
        )
        if self.stall:
            await self.release.wait()
        if self.canned is not None:
            return self.canned()
        return await handler(request)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != TOKEN:
            return web.json_response({"message": "Token is invalid or expired"}, status=401)
        return await handler(request)

    async def _list(self, request: web.Request) -> web.Response:
        search = request.query.get("search", "").lower()
        page = int(request.query.get("page", "1"))
        found = [g for g in self.gateways.values() if search in g["name"].lower()]
        last_page = max(1, -(-len(found) // self.per_page))
        start = (page - 1) * self.per_page
        return web.json_response(
            {
                "pageInfo": {
                    "currentPage": page,
                    "perPage": self.per_page,
                    "lastPage": last_page,
                    "total": len(found),
                },
                "data": found[start : start + self.per_page],
            }
        )

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if any(g["name"] == body["name"] for g in self.gateways.values()):
            return web.json_response({"message": "Gateway name already exists"}, status=400)
        gateway_id = f"gw_{len(self.gateways) + 1}"
        self.gateways[gateway_id] = {"id": gateway_id, **body}
        return web.json_response(self.gateways[gateway_id])

    async def _update(self, request: web.Request) -> web.Response:
        gateway = self.gateways.get(request.match_info["gateway_id"])
        if gateway is None:
            return web.json_response({"message": "Gateway not found"}, status=404)
        gateway.update(await request.json())
        return web.json_response(gateway)

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]


@pytest.fixture
async def api() -> AsyncIterator[FakeVideoSDK]:
    fake = FakeVideoSDK()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.base = f"http://127.0.0.1:{server.port}"
    try:
        yield fake
    finally:
        fake.release.set()
        await server.close()


@pytest.fixture
def refused_base() -> Iterator[str]:
    """A local address that refuses connections: bound, never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def upsert(api: FakeVideoSDK, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "token": TOKEN,
        "name": "dtmf-bus",
        "numbers": ["+15551230001"],
        "api_base": api.base,
    }
    options.update(overrides)
    return await upsert_inbound_gateway(**options)


# --- create and update -----------------------------------------------------------------


async def test_create_posts_gateway_with_dtmf_enabled(api: FakeVideoSDK) -> None:
    result = await upsert(api, numbers=["+15551230001", "+15551230002"])

    [post] = api.writes()
    assert post.method == "POST"
    assert post.path == GATEWAYS
    assert post.headers["Authorization"] == TOKEN
    assert post.headers["Content-Type"] == "application/json"
    assert post.body == {
        "name": "dtmf-bus",
        "enableDtmf": True,
        "numbers": ["+15551230001", "+15551230002"],
    }
    assert result == {"id": "gw_1", **post.body}


async def test_create_looks_up_the_name_first(api: FakeVideoSDK) -> None:
    await upsert(api)

    lookup = api.requests[0]
    assert (lookup.method, lookup.path) == ("GET", GATEWAYS)
    assert lookup.query["search"] == "dtmf-bus"
    assert lookup.headers["Authorization"] == TOKEN


async def test_update_by_id_patches_that_gateway(api: FakeVideoSDK) -> None:
    api.seed("gw_42", "old name", ["+15550000000"])

    result = await upsert(api, gateway_id="gw_42", name="dtmf-bus", numbers=["+15551230009"])

    assert len(api.requests) == 1  # no lookup when the id is given
    [patch] = api.requests
    assert patch.method == "PATCH"
    assert patch.path == f"{GATEWAYS}/gw_42"
    assert patch.headers["Authorization"] == TOKEN
    assert patch.headers["Content-Type"] == "application/json"
    assert patch.body == {"name": "dtmf-bus", "enableDtmf": True, "numbers": ["+15551230009"]}
    assert result["id"] == "gw_42"
    assert result["enableDtmf"] is True


async def test_existing_name_is_updated_not_duplicated(api: FakeVideoSDK) -> None:
    # A loose search also returns "dtmf-bus-staging"; only the exact name may match, and
    # it sits on the second page.
    for n in range(12):
        api.seed(f"gw_other_{n}", f"dtmf-bus-staging-{n}", ["+15559990000"])
    api.seed("gw_prod", "dtmf-bus", ["+15551230001"])

    result = await upsert(api)

    pages = [r.query["page"] for r in api.requests if r.method == "GET"]
    assert pages == ["1", "2"]
    [patch] = api.writes()
    assert (patch.method, patch.path) == ("PATCH", f"{GATEWAYS}/gw_prod")
    assert result["id"] == "gw_prod"
    assert len(api.gateways) == 13


async def test_no_dtmf_sends_enable_dtmf_false(api: FakeVideoSDK) -> None:
    await upsert(api, enable_dtmf=False)

    [post] = api.writes()
    assert post.body["enableDtmf"] is False


async def test_trailing_slash_in_api_base_is_ignored(api: FakeVideoSDK) -> None:
    await upsert(api, api_base=api.base + "/")

    assert [r.path for r in api.requests] == [GATEWAYS, GATEWAYS]


async def test_two_gateways_with_the_name_is_an_error(api: FakeVideoSDK) -> None:
    api.seed("gw_a", "dtmf-bus", ["+15551230001"])
    api.seed("gw_b", "dtmf-bus", ["+15551230002"])

    with pytest.raises(GatewayError, match="gw_a, gw_b") as err:
        await upsert(api)

    assert "--gateway-id" in str(err.value)
    assert api.writes() == []


# --- refused before any request ----------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "   \n"])
async def test_missing_token_makes_no_request(api: FakeVideoSDK, token: str | None) -> None:
    with pytest.raises(GatewayError, match="VIDEOSDK_AUTH_TOKEN"):
        await upsert(api, token=token)

    assert api.requests == []


@pytest.mark.parametrize("numbers", [[], ["", "  "]])
async def test_empty_numbers_makes_no_request(api: FakeVideoSDK, numbers: list[str]) -> None:
    with pytest.raises(GatewayError, match="phone number"):
        await upsert(api, numbers=numbers)

    assert api.requests == []


async def test_empty_name_makes_no_request(api: FakeVideoSDK) -> None:
    with pytest.raises(GatewayError, match="name"):
        await upsert(api, name="  ")

    assert api.requests == []


# --- API and transport failures ----------------------------------------------------------


async def test_unauthorized_reports_status_and_api_message(api: FakeVideoSDK) -> None:
    with pytest.raises(GatewayError) as err:
        await upsert(api, token="wrong-token")

    message = str(err.value)
    assert "401" in message
    assert "Token is invalid or expired" in message
    assert "wrong-token" not in message


async def test_unknown_gateway_id_reports_404(api: FakeVideoSDK) -> None:
    with pytest.raises(GatewayError, match=r"PATCH .*/gw_missing .*404.*Gateway not found"):
        await upsert(api, gateway_id="gw_missing")


async def test_non_json_error_body_is_truncated(api: FakeVideoSDK) -> None:
    api.canned = lambda: web.Response(status=502, text="<html>" + "bad gateway " * 200)

    with pytest.raises(GatewayError) as err:
        await upsert(api, gateway_id="gw_1")

    message = str(err.value)
    assert "502" in message
    assert "<html>bad gateway" in message
    assert message.endswith("...")
    assert len(message) < 500


async def test_non_json_success_body_is_an_error(api: FakeVideoSDK) -> None:
    api.canned = lambda: web.Response(status=200, text="OK", content_type="text/plain")

    with pytest.raises(GatewayError, match="not JSON: OK"):
        await upsert(api, gateway_id="gw_1")


async def test_json_that_is_not_an_object_is_an_error(api: FakeVideoSDK) -> None:
    api.canned = lambda: web.json_response(["gw_1"])

    with pytest.raises(GatewayError, match="expected an object"):
        await upsert(api, gateway_id="gw_1")


async def test_redirect_is_not_followed(api: FakeVideoSDK) -> None:
    api.canned = lambda: web.Response(status=307, headers={"Location": "http://example.invalid/"})

    with pytest.raises(GatewayError, match="HTTP 307"):
        await upsert(api, gateway_id="gw_1")

    assert len(api.requests) == 1


async def test_connection_refused_is_a_gateway_error(refused_base: str) -> None:
    with pytest.raises(GatewayError, match="cannot reach the VideoSDK API"):
        await upsert_inbound_gateway(
            token=TOKEN, name="dtmf-bus", numbers=["+15551230001"], api_base=refused_base
        )


async def test_timeout_is_a_gateway_error(api: FakeVideoSDK) -> None:
    api.stall = True

    with pytest.raises(GatewayError, match=r"timed out after 0\.2s"):
        await upsert(api, gateway_id="gw_1", timeout_s=0.2)


# --- CLI ---------------------------------------------------------------------------------


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dtmf-bus sip-gateway")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDEOSDK_API_BASE", raising=False)

    args = parse(["--number", "+15551230001", "--number", "+15551230002"])

    assert args.numbers == ["+15551230001", "+15551230002"]
    assert args.api_base == DEFAULT_API_BASE
    assert args.enable_dtmf is True
    assert args.gateway_id is None


def test_cli_number_is_required() -> None:
    with pytest.raises(SystemExit):
        parse(["--name", "x"])


async def test_run_prints_one_json_line_and_returns_0(
    api: FakeVideoSDK, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("VIDEOSDK_API_BASE", api.base)  # read when the options are added
    args = parse(["--name", "ivr", "--number", "+15551230001"])

    code = await run(args)

    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    [line] = out.splitlines()
    assert json.loads(line) == {
        "action": "created",
        "id": "gw_1",
        "name": "ivr",
        "numbers": ["+15551230001"],
        "enableDtmf": True,
    }


async def test_run_update_with_no_dtmf(
    api: FakeVideoSDK, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", TOKEN)
    api.seed("gw_9", "ivr", ["+15551230001"])
    argv = ["--gateway-id", "gw_9", "--name", "ivr", "--number", "+15551230001", "--no-dtmf"]
    args = parse([*argv, "--api-base", api.base])

    code = await run(args)

    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["action"] == "updated"
    assert summary["id"] == "gw_9"
    assert summary["enableDtmf"] is False
    assert api.writes()[0].body["enableDtmf"] is False


async def test_run_without_token_returns_2(
    api: FakeVideoSDK, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("VIDEOSDK_AUTH_TOKEN", raising=False)
    args = parse(["--number", "+15551230001", "--api-base", api.base])

    code = await run(args)

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "VIDEOSDK_AUTH_TOKEN" in err
    assert api.requests == []


async def test_run_api_error_returns_2(
    api: FakeVideoSDK, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", "expired-token")
    args = parse(["--number", "+15551230001", "--api-base", api.base])

    code = await run(args)

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert "401" in err
    assert "Token is invalid or expired" in err
