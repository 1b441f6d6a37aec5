"""`EdgeSettings`: what the media edge reads from the environment, beyond what every process
reads (services/runtime/settings.py)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from services.runtime.settings import (
    ENV_VARS,
    Settings,
    SettingsError,
    env_bool,
    env_float,
    env_int,
)
from services.runtime.transfers import BadAllowEntry, TransferAllowlist

# The edge's variables, the common ones first; its deployment is checked against this list.
EDGE_ENV_VARS = (
    *ENV_VARS,
    "DTMF_EDGE_ID",
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

KEY_SOURCES = ("gateway", "inband", "both")


def _transfer_allow(env: Mapping[str, str]) -> TransferAllowlist:
    try:
        return TransferAllowlist.parse(env.get("DTMF_TRANSFER_ALLOW") or "")
    except BadAllowEntry as error:
        raise SettingsError(f"DTMF_TRANSFER_ALLOW {error}") from None


def key_sources(env: Mapping[str, str]) -> str:
    """DTMF_KEY_SOURCES: where a VideoSDK call's presses come from: the SIP gateway's events
    (gateway), tones detected in the caller's audio (inband), or both, one event per press
    (services/edge/inband/pairing.py)."""
    raw = (env.get("DTMF_KEY_SOURCES") or "gateway").strip().lower()
    if raw not in KEY_SOURCES:
        raise SettingsError(f"DTMF_KEY_SOURCES={raw!r} is not one of {', '.join(KEY_SOURCES)}")
    return raw


def default_edge_id() -> str:
    # Unique per process: two edges on one host must not share a reply queue.
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, kw_only=True)
class EdgeSettings(Settings):
    env_vars: ClassVar[tuple[str, ...]] = EDGE_ENV_VARS

    # Names the edge's reply queue; from_env makes one up when DTMF_EDGE_ID is unset.
    edge_id: str = ""
    # Events held while the broker is away, and how long to wait for a confirm.
    publish_buffer: int = 10_000
    publish_timeout_s: float = 5.0
    # A key press interrupts the agent's speech even outside a gather.
    barge_in: bool = False
    # Past this many presses waiting for a reply, new ones are shed (0: never).
    max_unanswered: int = 500
    # Edge pod (register mode): calls it takes at once, each in a job process of its own,
    # and job processes kept started ahead of calls, so a call need not wait for one.
    edge_max_calls: int = 50
    edge_idle_processes: int = 2
    # Where a stopping edge process leaves the events it could not publish, for the next
    # one to publish (on Kubernetes a volume shared by the pod's processes).
    spool_dir: Path = Path("var/spool")
    # Where a reply may transfer a call (see services/runtime/transfers.py); the default
    # permits nothing.
    transfer_allow: TransferAllowlist = field(default_factory=TransferAllowlist)
    # VideoSDK: gateway events, in-band tones, or both de-duplicated (see key_sources).
    key_sources: str = "gateway"

    @classmethod
    def env_fields(cls, env: Mapping[str, str]) -> dict[str, Any]:
        return {
            **super().env_fields(env),
            "edge_id": env.get("DTMF_EDGE_ID") or default_edge_id(),
            "publish_buffer": env_int(env, "DTMF_PUBLISH_BUFFER", 10_000, minimum=1),
            "publish_timeout_s": env_float(env, "DTMF_PUBLISH_TIMEOUT_S", 5.0),
            "barge_in": env_bool(env, "DTMF_BARGE_IN", False),
            "max_unanswered": env_int(env, "DTMF_MAX_UNANSWERED", 500),
            "edge_max_calls": env_int(env, "DTMF_EDGE_MAX_CALLS", 50, minimum=1),
            "edge_idle_processes": env_int(env, "DTMF_EDGE_IDLE_PROCESSES", 2),
            "spool_dir": Path(env.get("DTMF_SPOOL_DIR") or "var/spool"),
            "transfer_allow": _transfer_allow(env),
            "key_sources": key_sources(env),
        }
