"""`CallLogSettings`: the common settings (services/runtime/settings.py) and where the call
log writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from services.runtime.settings import ENV_VARS, Settings

CALLLOG_ENV_VARS = (*ENV_VARS, "DTMF_CALLLOG_PATH")


@dataclass(frozen=True, kw_only=True)
class CallLogSettings(Settings):
    env_vars: ClassVar[tuple[str, ...]] = CALLLOG_ENV_VARS

    # The JSON lines file, created with its directory if missing.
    calllog_path: Path = Path("var/calllog.jsonl")

    @classmethod
    def env_fields(cls, env: Mapping[str, str]) -> dict[str, Any]:
        return {
            **super().env_fields(env),
            "calllog_path": Path(env.get("DTMF_CALLLOG_PATH") or "var/calllog.jsonl"),
        }
