"""Settings from environment variables, read once in each composition root.

`Settings` holds what every process reads. A role with settings of its own (the edge, the
call log, a service of yours) subclasses it, adds its fields to `env_fields` and lists its
variables in `env_vars`; `from_env` then reads them all."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, quote, urlsplit

from contracts.topology import DEFAULT_DELIVERY_LIMIT, DEFAULT_INTERACTIVE_TTL_MS

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"

# Every variable read below, by every process; the deployment manifests are checked against
# each role's list (this one, and a subclass's `env_vars`).
ENV_VARS = (
    "AMQP_URL",
    "AMQP_CA_FILE",
    "DTMF_PREFETCH",
    "DTMF_DELIVERY_LIMIT",
    "DTMF_PRESS_TTL_MS",
    "DTMF_MAX_BODY_BYTES",
    "DTMF_SHUTDOWN_TIMEOUT_S",
    "DTMF_REPLY_TIMEOUT_S",
    "DTMF_LOG_LEVEL",
    "DTMF_HTTP_HOST",
    "DTMF_HTTP_PORT",
)


class SettingsError(ValueError):
    """An environment variable holds something unusable."""


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
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


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
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


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


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


@dataclass(frozen=True, kw_only=True)
class Settings:
    env_vars: ClassVar[tuple[str, ...]] = ENV_VARS

    # One broker URL, or several nodes separated by commas (see broker_urls); from_env adds
    # AMQP_CA_FILE to its amqps:// nodes (see with_ca_file).
    amqp_url: str = DEFAULT_AMQP_URL
    prefetch: int = 64
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    press_ttl_ms: int = DEFAULT_INTERACTIVE_TTL_MS
    max_body_bytes: int = 64 * 1024
    shutdown_timeout_s: float = 10.0
    # The edge waits this long for a reply; a service retries a reply for as long.
    reply_timeout_s: float = 5.0
    log_level: str = "INFO"
    http_host: str = "0.0.0.0"
    # /metrics, /healthz, /readyz; 0 picks a free port (logged), -1 turns the server off.
    http_port: int = 8000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        return cls(**cls.env_fields(os.environ if env is None else env))

    @classmethod
    def env_fields(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The keyword arguments read from `env`. A subclass returns its parent's and its own
        (`super().env_fields(env)`), so every role reads the common ones the same way."""
        return {
            "amqp_url": ",".join(
                with_ca_file(
                    broker_urls(env.get("AMQP_URL") or DEFAULT_AMQP_URL),
                    env.get("AMQP_CA_FILE") or "",
                )
            ),
            "prefetch": env_int(env, "DTMF_PREFETCH", 64, minimum=1),
            "delivery_limit": env_int(
                env, "DTMF_DELIVERY_LIMIT", DEFAULT_DELIVERY_LIMIT, minimum=1
            ),
            "press_ttl_ms": env_int(
                env, "DTMF_PRESS_TTL_MS", DEFAULT_INTERACTIVE_TTL_MS, minimum=1
            ),
            "max_body_bytes": env_int(env, "DTMF_MAX_BODY_BYTES", 64 * 1024, minimum=256),
            "shutdown_timeout_s": env_float(env, "DTMF_SHUTDOWN_TIMEOUT_S", 10.0),
            "reply_timeout_s": env_float(env, "DTMF_REPLY_TIMEOUT_S", 5.0),
            "log_level": (env.get("DTMF_LOG_LEVEL") or "INFO").upper(),
            "http_host": env.get("DTMF_HTTP_HOST") or "0.0.0.0",
            "http_port": env_int(env, "DTMF_HTTP_PORT", 8000, minimum=-1),
        }
