"""Create or update the VideoSDK inbound SIP gateway that feeds calls to the edge.

Key presses only reach the agent's DTMF handler when the inbound gateway has DTMF enabled,
so this is the one piece of VideoSDK account setup the project automates.

VideoSDK REST API, as documented at docs.videosdk.live (api-reference, SIP, inbound gateway):

- ``POST  /v2/sip/inbound-gateways`` creates a gateway; the name must be unique and at least
  one number is required.
- ``PATCH /v2/sip/inbound-gateways/{gatewayId}`` updates a gateway by id; it is a partial
  update, only the fields sent change.
- ``GET   /v2/sip/inbound-gateways`` lists gateways page by page (``page``, ``perPage``,
  ``search`` by name); the answer is ``{"pageInfo": {..., "lastPage": n}, "data": [...]}``
  and each gateway carries its ``id``.
- The update page does not list ``enableDtmf`` among its body fields, but the DTMF guide
  says to set it when creating *or updating* a gateway through the API.
- ``Authorization`` carries the raw JWT, without a ``Bearer`` prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.videosdk.live"
DEFAULT_GATEWAY_NAME = "dtmf-bus"
TOKEN_ENV = "VIDEOSDK_AUTH_TOKEN"
API_BASE_ENV = "VIDEOSDK_API_BASE"
GATEWAYS_PATH = "/v2/sip/inbound-gateways"

# Enough of an error body to explain the failure without flooding the terminal.
_MAX_DETAIL_CHARS = 300
# Names are unique, so the search narrows to a page or two; the cap only stops a
# misbehaving pageInfo from looping forever.
_MAX_LIST_PAGES = 50


class GatewayError(Exception):
    """The gateway could not be created or updated; the message says why."""


async def upsert_inbound_gateway(
    *,
    token: str | None,
    name: str,
    numbers: Sequence[str],
    gateway_id: str | None = None,
    api_base: str = DEFAULT_API_BASE,
    enable_dtmf: bool = True,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """Create the inbound gateway, or update it when it already exists.

    With ``gateway_id`` the gateway is updated by id. Without it the gateway named ``name``
    is looked up and updated if found, else created, so running this twice is harmless
    (a second create would fail on the unique name). Returns the API's JSON answer.
    """
    _, _, gateway = await _upsert(
        token=token,
        name=name,
        numbers=numbers,
        gateway_id=gateway_id,
        api_base=api_base,
        enable_dtmf=enable_dtmf,
        timeout_s=timeout_s,
    )
    return gateway


async def _upsert(
    *,
    token: str | None,
    name: str,
    numbers: Sequence[str],
    gateway_id: str | None,
    api_base: str,
    enable_dtmf: bool,
    timeout_s: float,
) -> tuple[str, str | None, dict[str, Any]]:
    """Do the upsert; also say whether it was ``created`` or ``updated``, and which id."""
    auth = _require_token(token)
    body = _gateway_body(name, numbers, enable_dtmf)
    client = _Client(api_base, auth, timeout_s)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
        target = gateway_id or await _find_by_name(client, session, body["name"])
        if target is None:
            log.info("creating inbound gateway %r", body["name"])
            created = await client.request(session, "POST", GATEWAYS_PATH, body=body)
            return "created", None, created
        log.info("updating inbound gateway %s (%r)", target, body["name"])
        path = f"{GATEWAYS_PATH}/{quote(target, safe='')}"
        return "updated", target, await client.request(session, "PATCH", path, body=body)


def _require_token(token: str | None) -> str:
    # Tokens often come from files or secrets with a trailing newline.
    cleaned = (token or "").strip()
    if not cleaned:
        raise GatewayError(
            f"no VideoSDK auth token: set the {TOKEN_ENV} environment variable "
            "to a token generated from your VideoSDK API key and secret"
        )
    return cleaned


def _gateway_body(name: str, numbers: Sequence[str], enable_dtmf: bool) -> dict[str, Any]:
    # A bare str is a Sequence too; iterating it would send one "number" per character.
    if isinstance(numbers, str):
        numbers = [numbers]
    cleaned_name = name.strip()
    cleaned_numbers = [n.strip() for n in numbers if n.strip()]
    if not cleaned_name:
        raise GatewayError("the gateway name must not be empty")
    if not cleaned_numbers:
        raise GatewayError("at least one phone number is required for the inbound gateway")
    return {"name": cleaned_name, "enableDtmf": enable_dtmf, "numbers": cleaned_numbers}


async def _find_by_name(client: _Client, session: aiohttp.ClientSession, name: str) -> str | None:
    """Return the id of the gateway called exactly ``name``, or None."""
    # The API's search is a loose match, so filter for the exact name ourselves.
    matches: list[str] = []
    page = 1
    while page <= _MAX_LIST_PAGES:
        answer = await client.request(
            session, "GET", GATEWAYS_PATH, params={"search": name, "page": str(page)}
        )
        gateways, last_page = _parse_list_page(answer)
        matches.extend(_gateway_id(g) for g in gateways if g.get("name") == name)
        if page >= last_page:
            break
        page += 1
    if len(matches) > 1:
        raise GatewayError(
            f"{len(matches)} inbound gateways are named {name!r} ({', '.join(matches)}); "
            "pass --gateway-id to pick one"
        )
    return matches[0] if matches else None


def _parse_list_page(answer: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    data = answer.get("data")
    if not isinstance(data, list):
        raise GatewayError(f"unexpected gateway list from the API: {_truncate(answer)}")
    page_info = answer.get("pageInfo")
    last_page = page_info.get("lastPage", 1) if isinstance(page_info, dict) else 1
    gateways = [g for g in data if isinstance(g, dict)]
    return gateways, last_page if isinstance(last_page, int) else 1


def _gateway_id(gateway: Mapping[str, Any]) -> str:
    # The docs call the field "id" and say it maps to gatewayId; accept either spelling.
    value = gateway.get("id") or gateway.get("gatewayId")
    if not value:
        raise GatewayError(f"gateway without an id in the API answer: {_truncate(gateway)}")
    return str(value)


class _Client:
    """Sends one VideoSDK request and turns every failure into a GatewayError."""

    def __init__(self, api_base: str, token: str, timeout_s: float) -> None:
        self._base = api_base.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    async def request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self._base + path
        headers = {"Authorization": self._token, "Accept": "application/json"}
        try:
            # No redirects: a control-plane call should not move, and following one would
            # resend the token to wherever it points.
            async with session.request(
                method, url, json=body, params=params, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                text = await resp.text(errors="replace")
        except TimeoutError as exc:
            raise GatewayError(f"{method} {url} timed out after {self._timeout_s:g}s") from exc
        except aiohttp.ClientError as exc:
            raise GatewayError(f"cannot reach the VideoSDK API at {url}: {exc}") from exc
        log.debug("%s %s -> HTTP %d", method, url, status)
        if not 200 <= status < 300:
            raise GatewayError(f"{method} {url} failed with HTTP {status}: {_error_detail(text)}")
        return _parse_object(method, url, text)


def _parse_object(method: str, url: str, text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise GatewayError(
            f"{method} {url} answered with something that is not JSON: {_truncate(text)}"
        ) from exc
    if not isinstance(parsed, dict):
        raise GatewayError(
            f"{method} {url} answered with a JSON {type(parsed).__name__}, "
            f"expected an object: {_truncate(text)}"
        )
    return parsed


def _error_detail(text: str) -> str:
    """The API's own error message when it sent one, else the raw body."""
    if not text.strip():
        return "(empty body)"
    try:
        parsed = json.loads(text)
    except ValueError:
        return _truncate(text)
    if isinstance(parsed, dict):
        for key in ("message", "error", "msg", "errors"):
            value = parsed.get(key)
            if value:
                return _truncate(value if isinstance(value, str) else json.dumps(value))
    return _truncate(text)


def _truncate(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    if len(text) <= _MAX_DETAIL_CHARS:
        return text
    return text[:_MAX_DETAIL_CHARS] + "..."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dtmf-bus sip-gateway``."""
    parser.add_argument(
        "--name",
        default=DEFAULT_GATEWAY_NAME,
        help="gateway name; an existing gateway with this name is updated "
        f"(default: {DEFAULT_GATEWAY_NAME})",
    )
    parser.add_argument(
        "--number",
        dest="numbers",
        action="append",
        required=True,
        metavar="E164",
        help="phone number routed to the gateway, e.g. +15551234567; repeat for more",
    )
    parser.add_argument(
        "--gateway-id",
        default=None,
        help="update this gateway instead of looking it up by name",
    )
    parser.add_argument(
        "--api-base",
        default=os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE,
        help=f"VideoSDK API base URL (default: ${API_BASE_ENV} or {DEFAULT_API_BASE})",
    )
    parser.add_argument(
        "--no-dtmf",
        dest="enable_dtmf",
        action="store_false",
        help="turn DTMF off on the gateway (it is on by default)",
    )
    parser.add_argument(
        "--timeout",
        dest="timeout_s",
        type=float,
        default=10.0,
        help="seconds to wait for each API call (default: 10)",
    )


async def run(args: argparse.Namespace) -> int:
    """CLI entry: upsert the gateway, print one JSON line; 0 on success, 2 on error."""
    try:
        action, target, gateway = await _upsert(
            token=os.environ.get(TOKEN_ENV),
            name=args.name,
            numbers=args.numbers,
            gateway_id=args.gateway_id,
            api_base=args.api_base,
            enable_dtmf=args.enable_dtmf,
            timeout_s=args.timeout_s,
        )
    except GatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(_summary(action, gateway, target)))
    return 0


def _summary(action: str, gateway: Mapping[str, Any], target: str | None) -> dict[str, Any]:
    return {
        "action": action,
        "id": gateway.get("id") or gateway.get("gatewayId") or target,
        "name": gateway.get("name"),
        "numbers": gateway.get("numbers"),
        "enableDtmf": gateway.get("enableDtmf"),
    }


if __name__ == "__main__":  # pragma: no cover - the real entry point is `dtmf-bus sip-gateway`
    _parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(_parser)
    sys.exit(asyncio.run(run(_parser.parse_args())))
