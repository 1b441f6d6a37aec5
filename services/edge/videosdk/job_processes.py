"""The pod's job processes: the SDK's `ProcessResource`, told apart from a lost start.

videosdk-agents (1.0.30, the pinned version) starts a job process and waits for the
"ready" it posts on its control queue. The process reads that same queue in its loop, so
when the worker looks later than about a second after the start (its loop or its executor
threads busy, as when several calls arrive at once on a busy pod), the process takes its
own "ready" back, and the worker gives up on a live, idle process after its start timeout:
the call it was started for fails ("No available resources for task execution"). The
register-mode test lost a call that way once in about twenty runs on a busy 2-core machine.

`JobProcess` is the SDK's resource with a start signal of its own, an event only the
process sets; the rest (its queues, its task loop, the worker's use of it) is the SDK's.
`use_job_processes` makes the SDK's resource manager start these.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from videosdk.agents.execution import resource_manager
from videosdk.agents.execution._mp_context import get_mp_context
from videosdk.agents.execution.resources import ProcessResource

log = logging.getLogger(__name__)

# How often the worker looks at a starting process's event: on its own loop rather than in
# an executor thread, so a busy executor cannot delay it.
STARTED_POLL_S = 0.02


def _serve(
    resource_id: str,
    task_queue: Any,
    result_queue: Any,
    control_queue: Any,
    config: dict[str, Any],
    started: Any,
) -> None:
    """The job process: says it has started, then runs the SDK's own task loop."""
    started.set()
    ProcessResource._process_worker(resource_id, task_queue, result_queue, control_queue, config)


class JobProcess(ProcessResource):  # type: ignore[misc]
    """A job process whose start cannot be lost (see the module's docstring)."""

    async def _initialize_impl(self) -> None:
        context = get_mp_context()
        self.task_queue = context.Queue()
        self.result_queue = context.Queue()
        self.control_queue = context.Queue()
        started = context.Event()
        self.process = context.Process(
            target=_serve,
            args=(
                self.resource_id,
                self.task_queue,
                self.result_queue,
                self.control_queue,
                self.config,
                started,
            ),
            daemon=True,
        )
        self.process.start()
        timeout = float(self.config.get("initialize_timeout", 10.0))
        deadline = time.monotonic() + timeout
        while not started.is_set():
            if not self.process.is_alive():
                raise RuntimeError(
                    f"job process {self.resource_id} exited while starting "
                    f"(pid {self.process.pid}, exit code {self.process.exitcode})"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"job process {self.resource_id} did not start in {timeout}s")
            await asyncio.sleep(STARTED_POLL_S)
        self._process_ready = True
        log.debug("job process %s started (pid %s)", self.resource_id, self.process.pid)


def use_job_processes() -> None:
    """The SDK's resource manager starts a `JobProcess` wherever it starts a process."""
    resource_manager.ProcessResource = JobProcess
