"""Fire-and-forget work the edge starts from a timer or a synchronous check."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


def spawn(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` in a task of its own. Nobody awaits it, so a failure is logged here."""
    task = asyncio.get_running_loop().create_task(work)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("timer action failed", exc_info=task.exception())
