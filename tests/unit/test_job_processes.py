"""The pod's job processes (services/edge/videosdk/job_processes.py): real processes from the
SDK's fork server, started while the worker cannot look at them at once."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from videosdk.agents.execution import resource_manager
from videosdk.agents.execution.types import TaskConfig, TaskType

from services.edge.videosdk.job_processes import JobProcess, use_job_processes

START_S = 30.0  # the pod's own start bound (worker.PROCESS_START_TIMEOUT_S)


def _double(n: int) -> int:  # a job, run in the job process
    return 2 * n


def test_a_job_process_starts_while_every_thread_of_the_worker_is_busy() -> None:
    """The SDK's own resource waits for its process's start on an executor thread, and loses
    the start when it looks late; on a pod whose threads are all taken, a process started
    for a call must still be taken into use, and then run the call."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        free = threading.Event()
        taken = loop.run_in_executor(None, free.wait, START_S)  # the worker's only thread
        process = JobProcess("job-test", {"initialize_timeout": START_S, "close_timeout": 5.0})
        try:
            await asyncio.wait_for(process.initialize(), START_S)
            assert process.is_available and process.process.is_alive()
        finally:
            free.set()
            await taken
        # its results come back on the SDK's own path (which does use a thread)
        done = await process.execute_task(
            "task-1", TaskConfig(task_type=TaskType.JOB, timeout=START_S), _double, (21,), {}
        )
        assert done.result == 42, done.error
        await process.shutdown()
        assert not process.process.is_alive()

    # A loop of its own, in a thread of its own: the tests' shared loop keeps its executor.
    with ThreadPoolExecutor(max_workers=1) as runner:
        runner.submit(asyncio.run, scenario()).result()


def test_the_pod_has_the_sdk_start_its_job_processes_as_job_process() -> None:
    sdk_own = resource_manager.ProcessResource
    try:
        use_job_processes()
        assert resource_manager.ProcessResource is JobProcess
    finally:
        resource_manager.ProcessResource = sdk_own
