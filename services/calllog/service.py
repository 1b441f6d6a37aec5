"""The call log: every event the edge publishes, one JSON line each, acked after the write."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TextIO

from contracts import Action, Event
from contracts.base import utcnow
from services.runtime.service import ConsumerService, all_events
from services.runtime.settings import Settings

log = logging.getLogger(__name__)


class JsonLinesLog:
    """Append-only JSON lines; flushed per line so an ack never runs ahead of the file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = path.open("a", encoding="utf-8")
        log.info("call log writing to %s", path)

    async def write(self, event: Event) -> list[Action]:
        record = event.model_dump(mode="json")
        record["logged_at"] = utcnow().isoformat()
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        return []


def build(settings: Settings) -> ConsumerService:
    sink = JsonLinesLog(settings.calllog_path)
    return ConsumerService(
        name="calllog", bindings=all_events(), handler=sink.write, interactive=False
    )
