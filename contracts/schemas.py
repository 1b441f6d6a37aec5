"""JSON Schemas generated from the models, committed so other languages can join.

`python -m contracts.schemas` rewrites them; a unit test fails when they drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from contracts.control import ANNOUNCEMENT_ADAPTER
from contracts.events import EVENT_ADAPTER
from contracts.replies import REPLY_ADAPTER
from contracts.version import SCHEMA_VERSION

SCHEMA_DIR = Path(__file__).parent / "schemas"

_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "event": EVENT_ADAPTER,
    "reply": REPLY_ADAPTER,
    "announcement": ANNOUNCEMENT_ADAPTER,
}


def generate() -> dict[str, str]:
    """File name -> schema text, exactly as committed."""
    out: dict[str, str] = {}
    for name, adapter in _ADAPTERS.items():
        schema = adapter.json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://dtmf-bus.dev/schemas/{SCHEMA_VERSION}/{name}.json"
        schema["title"] = f"dtmf-bus {name}"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in generate().items():
        path = directory / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write():
        sys.stdout.write(f"wrote {path}\n")
