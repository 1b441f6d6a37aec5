"""Settings from environment variables, read once in each composition root."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from contracts.topology import DEFAULT_DELIVERY_LIMIT, DEFAULT_INTERACTIVE_TTL_MS
from services.runtime.transfers import BadAllowEntry, TransferAllowlist

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

# Every variable read below; the deployment manifests are checked against this list.
ENV_VARS = (
    "AMQP_URL",
    "AMQP_CA_FILE",
    "DTMF_PREFETCH",
    "DTMF_DELIVERY_LIMIT",
    "DTMF_PRESS_TTL_MS",
    "DTMF_MAX_BODY_BYTES",
    "DTMF_SHUTDOWN_TIMEOUT_S",
    "DTMF_REPLY_TIMEOUT_S",
    "DTMF_EDGE_ID",
    "DTMF_CALLLOG_PATH",
    "DTMF_LOG_LEVEL",
    "DTMF_HTTP_HOST",
    "DTMF_HTTP_PORT",
    "DTMF_PUBLISH_BUFFER",
    "DTMF_PUBLISH_TIMEOUT_S",
    "DTMF_BARGE_IN",
    "DTMF_MAX_UNANSWERED",
    "DTMF_EDGE_MAX_CALLS",
    "DTMF_EDGE_IDLE_PROCESSES",
    "DTMF_SPOOL_DIR",
    "DTMF_TRANSFER_ALLOW",
    "DTMF_KEY_SOURCES",
)


class SettingsError(ValueError):
    """An environment variable holds something unusable."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name}={value} must be positive")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


def _transfer_allow(env: Mapping[str, str]) -> TransferAllowlist:
    try:
        return TransferAllowlist.parse(env.get("DTMF_TRANSFER_ALLOW") or "")
    except BadAllowEntry as error:
        raise SettingsError(f"DTMF_TRANSFER_ALLOW {error}") from None


KEY_SOURCES = ("gateway", "inband", "both")


def key_sources(env: Mapping[str, str]) -> str:
    """DTMF_KEY_SOURCES: where a VideoSDK call's presses come from: the SIP gateway's events
    (gateway), tones detected in the caller's audio (inband), or both, one event per press
    (services/edge/inband/pairing.py)."""
    raw = (env.get("DTMF_KEY_SOURCES") or "gateway").strip().lower()
    if raw not in KEY_SOURCES:
        raise SettingsError(f"DTMF_KEY_SOURCES={raw!r} is not one of {', '.join(KEY_SOURCES)}")
    return raw


def broker_urls(raw: str) -> tuple[str, ...]:
    """The broker nodes in AMQP_URL: one URL, or several separated by commas, in the order
    they are tried. A comma inside a URL (say, in a password) must be written %2C."""
    urls = tuple(part.strip() for part in raw.split(","))
    for n, url in enumerate(urls, start=1):
        # Errors name the entry by position: the value may hold a password.
        where = f"AMQP_URL entry {n} of {len(urls)}" if len(urls) > 1 else "AMQP_URL"
        if not url:
            raise SettingsError(f"{where} is empty (nodes are separated by single commas)")
        if not _is_amqp_url(url):
            raise SettingsError(f"{where} is not an amqp:// or amqps:// URL with a host")
    return urls


TLS_FILE_OPTIONS = ("cafile", "capath", "cadata")


def with_ca_file(urls: tuple[str, ...], ca_file: str) -> tuple[str, ...]:
    """AMQP_CA_FILE: the CA that verifies every amqps:// node that names none of its own
    (aiormq reads `cafile` from each node's URL). Without it, the system's CAs verify."""
    return tuple(_with_ca_file(url, ca_file) for url in urls) if ca_file else urls


def _with_ca_file(url: str, ca_file: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "amqps" or set(parse_qs(parts.query)) & set(TLS_FILE_OPTIONS):
        return url
    option = f"cafile={quote(ca_file, safe='/')}"
    return parts._replace(query=f"{parts.query}&{option}" if parts.query else option).geturl()


def _is_amqp_url(url: str) -> bool:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in {"amqp", "amqps"} and bool(parts.hostname)


def default_edge_id() -> str:
    # Unique per process: two edges on one host must not share a reply queue.
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, kw_only=True)
class Settings:
    # One broker URL, or several nodes separated by commas (see broker_urls); from_env adds
    # AMQP_CA_FILE to its amqps:// nodes (see with_ca_file).
    amqp_url: str = DEFAULT_AMQP_URL
    prefetch: int = 64
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    press_ttl_ms: int = DEFAULT_INTERACTIVE_TTL_MS
    max_body_bytes: int = 64 * 1024
    shutdown_timeout_s: float = 10.0
    reply_timeout_s: float = 5.0
    edge_id: str = ""
    calllog_path: Path = Path("var/calllog.jsonl")
    log_level: str = "INFO"
    http_host: str = "0.0.0.0"
    # /metrics, /healthz, /readyz; 0 picks a free port (logged), -1 turns the server off.
    http_port: int = 8000
    # Edge: events held while the broker is away, and how long to wait for a confirm.
    publish_buffer: int = 10_000
    publish_timeout_s: float = 5.0
    # Edge: a key press interrupts the agent's speech even outside a gather.
    barge_in: bool = False
    # Edge: past this many presses waiting for a reply, new ones are shed (0: never).
    max_unanswered: int = 500
    # Edge pod (register mode): calls it takes at once, each in a job process of its own,
    # and job processes kept started ahead of calls, so a call need not wait for one.
    edge_max_calls: int = 50
    edge_idle_processes: int = 2
    # Edge: where a stopping edge process leaves the events it could not publish, for the
    # next one to publish (on Kubernetes a volume shared by the pod's processes).
    spool_dir: Path = Path("var/spool")
    # Edge: where a reply may transfer a call (see services/runtime/transfers.py); the
    # default permits nothing.
    transfer_allow: TransferAllowlist = field(default_factory=TransferAllowlist)
    # Edge (VideoSDK): gateway events, in-band tones, or both de-duplicated (see key_sources).
    key_sources: str = "gateway"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            amqp_url=",".join(
                with_ca_file(
                    broker_urls(env.get("AMQP_URL") or DEFAULT_AMQP_URL),
                    env.get("AMQP_CA_FILE") or "",
                )
            ),
            prefetch=_int(env, "DTMF_PREFETCH", 64, minimum=1),
            delivery_limit=_int(env, "DTMF_DELIVERY_LIMIT", DEFAULT_DELIVERY_LIMIT, minimum=1),
            press_ttl_ms=_int(env, "DTMF_PRESS_TTL_MS", DEFAULT_INTERACTIVE_TTL_MS, minimum=1),
            max_body_bytes=_int(env, "DTMF_MAX_BODY_BYTES", 64 * 1024, minimum=256),
            shutdown_timeout_s=_float(env, "DTMF_SHUTDOWN_TIMEOUT_S", 10.0),
            reply_timeout_s=_float(env, "DTMF_REPLY_TIMEOUT_S", 5.0),
            edge_id=env.get("DTMF_EDGE_ID") or default_edge_id(),
            calllog_path=Path(env.get("DTMF_CALLLOG_PATH") or "var/calllog.jsonl"),
            log_level=(env.get("DTMF_LOG_LEVEL") or "INFO").upper(),
            http_host=env.get("DTMF_HTTP_HOST") or "0.0.0.0",
            http_port=_int(env, "DTMF_HTTP_PORT", 8000, minimum=-1),
            publish_buffer=_int(env, "DTMF_PUBLISH_BUFFER", 10_000, minimum=1),
            publish_timeout_s=_float(env, "DTMF_PUBLISH_TIMEOUT_S", 5.0),
            barge_in=_bool(env, "DTMF_BARGE_IN", False),
            max_unanswered=_int(env, "DTMF_MAX_UNANSWERED", 500),
            edge_max_calls=_int(env, "DTMF_EDGE_MAX_CALLS", 50, minimum=1),
            edge_idle_processes=_int(env, "DTMF_EDGE_IDLE_PROCESSES", 2),
            spool_dir=Path(env.get("DTMF_SPOOL_DIR") or "var/spool"),
            transfer_allow=_transfer_allow(env),
            key_sources=key_sources(env),
        )
