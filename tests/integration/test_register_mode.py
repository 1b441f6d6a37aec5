"""The edge pod as Kubernetes runs it (``dtmf-bus edge --source videosdk --register``), driven
through the SDK's real worker job machinery.

Real: videosdk-agents' `Worker` with its process executor (each job in a process of its own,
forked by the SDK's fork server), its `BackendConnection` speaking the registry protocol over
a websocket, its availability check, job assignment and job updates; in each job process the
SDK's `_execute_job_entrypoint`, `JobContext.run_until_shutdown`, `AgentSession`, `Agent`,
`Pipeline`, our DTMF handler and Edge; RabbitMQ (a private vhost) with the real sales,
support, menu and call log services; the pod's /metrics, /healthz and /readyz over HTTP.

Stood in for, and nothing else (tools/videosdk_local, which says what is
not verified): VideoSDK's agent registry and the rooms.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import signal
from dataclasses import replace

import pytest
from aiohttp import web

from services.edge.settings import EdgeSettings
from services.edge.videosdk.agent import DEFAULT_GREETING
from services.edge.videosdk.pod import CALL_DRAIN_S, EdgePod, running_pod
from services.edge.videosdk.settings import VideoSDKSettings
from tests.integration.conftest import System
from tests.integration.register_harness import calls_state, replied, scrape, total
from tools.videosdk_local.hub import HubPipeline, RoomHub, hub_room
from tools.videosdk_local.registry import TOKEN, LocalRegistry
from tools.videosdk_local.support import get, serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CALLS = 5
AGENT_ID = "dtmf-bus-test"
POD = "pod-test"
SALES, SUPPORT = "Routing you to Sales...", "Routing you to Support..."
# Bounds, generous for a busy 2-core machine: a job process starts and its call comes up
# (the SDK allows a process 30 s to start, then the broker connection and the agent); a
# press is answered, or the worker reports a job's end (its process polls take 1 s turns).
CALL_UP_S = 90.0
ANSWER_S = 30.0


# --- the test --------------------------------------------------------------------------------


@pytest.fixture
def no_videosdk_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK writes a token it resolves, and the worker id the registry gave, into
    # os.environ: setting each name first makes monkeypatch restore it afterwards.
    for name in (
        "VIDEOSDK_AUTH_TOKEN",
        "VIDEOSDK_API_KEY",
        "VIDEOSDK_SECRET_KEY",
        f"VIDEOSDK_WORKER_ID_{AGENT_ID.upper()}",
        "PROMETHEUS_MULTIPROC_DIR",
    ):
        monkeypatch.setenv(name, "set-by-test")
        monkeypatch.delenv(name)


async def test_the_pod_serves_calls_each_in_its_own_process_with_one_metrics_endpoint(
    system: System, monkeypatch: pytest.MonkeyPatch, no_videosdk_environment: None
) -> None:
    registry, hub = LocalRegistry(timeout_s=ANSWER_S), RoomHub()
    pod_settings = replace(
        system.settings.of(EdgeSettings),
        edge_id=POD,
        http_host="127.0.0.1",
        http_port=0,
        edge_max_calls=CALLS,
        edge_idle_processes=2,
        reply_timeout_s=ANSWER_S,  # a busy machine is slow, not a silent service
    )
    async with (
        serving([web.get("/agent", registry.agent)]) as registry_at,
        serving([web.get("/rooms/{room}", hub.room)]) as hub_at,
    ):

        async def local_registry_url(**_: object) -> str:
            return f"ws://{registry_at}/"

        monkeypatch.setattr("videosdk.agents.worker.fetch_agent_init_config", local_registry_url)
        up: asyncio.Future[EdgePod] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()

        async def serve() -> None:  # the pod until `stop`, as `serve_pod` runs it on SIGTERM
            async with running_pod(
                pod_settings,
                videosdk=VideoSDKSettings(auth_token=TOKEN, agent_id=AGENT_ID, agent_name="IVR"),
                pipeline_factory=HubPipeline,
                room_factory=functools.partial(hub_room, f"ws://{hub_at}"),
                sdk_port=0,
            ) as pod:
                up.set_result(pod)
                await stop.wait()

        serving_pod = asyncio.create_task(serve())
        try:
            pod = await asyncio.wait_for(asyncio.shield(up), CALL_UP_S)
            assert (await get(pod.http_port, "/healthz"))[0] == 200
            await _five_calls_answered_and_merged(pod, registry, hub)
            await _a_sixth_call_is_refused(pod, registry)
            await _a_killed_call_leaves_the_others_answering(pod, registry, hub)
            stop.set()
            await _draining_lets_the_calls_finish(pod, registry, hub, serving_pod)
        finally:
            stop.set()
            await asyncio.wait_for(serving_pod, CALL_UP_S)


JOBS = [str(n) for n in range(1, CALLS + 1)]
ALIVE = ["1", "2", "4", "5"]  # job 3 is killed
# Each call presses its own order of keys, so a reply that reached the wrong call shows.
ORDERS = list(itertools.permutations((1, 2, 9)))[:CALLS]
SPOKEN = {1: SALES, 2: SUPPORT}


async def _five_calls_answered_and_merged(
    pod: EdgePod, registry: LocalRegistry, hub: RoomHub
) -> None:
    for job in JOBS:
        assert (await registry.availability(job))["available"] is True
        if job == JOBS[0]:  # it answered over its registry connection: registered
            assert await get(pod.http_port, "/readyz") == (200, "ready\n")
        await registry.assign(job)
    try:
        await hub.until(
            lambda: all(hub.up(f"room-{job}") for job in JOBS), timeout=CALL_UP_S, what="calls up"
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{calls_state(hub, registry, JOBS)}") from None
    pids = {hub.rooms[f"room-{job}"].pid for job in JOBS}
    assert len(pids) == CALLS and os.getpid() not in pids  # a process of its own each

    for turn in range(3):
        for job, order in zip(JOBS, ORDERS, strict=True):
            await hub.rooms[f"room-{job}"].press(order[turn])
        await hub.until(replied(hub, JOBS, 2 + turn), timeout=ANSWER_S, what=f"turn {turn + 1}")
    for job, order in zip(JOBS, ORDERS, strict=True):
        greeting, *replies = hub.rooms[f"room-{job}"].said
        assert greeting == DEFAULT_GREETING
        for key, reply in zip(order, replies, strict=True):
            assert reply == SPOKEN[key] if key in SPOKEN else reply.startswith("Invalid input")

    samples = await scrape(pod.http_port)  # one scrape: every call's presses, merged
    presses = CALLS * 3
    for key in ("1", "2", "9"):
        assert total(samples, "dtmf_presses_received_total", key=key, source="videosdk") == CALLS
    assert total(samples, "dtmf_press_to_reply_seconds_count") == presses
    assert total(samples, "dtmf_press_to_reply_seconds_bucket", le="+Inf") == presses
    assert total(samples, "dtmf_replies_applied_total", outcome="applied") == presses
    assert total(samples, "dtmf_events_confirmed_total", type="key_press") == presses
    assert total(samples, "dtmf_live_calls") == CALLS
    # One edge, the pod: no series per call or per job process.
    services = {dict(ls)["service"] for (n, ls) in samples if n == "dtmf_broker_connected"}
    assert services == {f"edge-{POD}"}
    assert total(samples, "dtmf_broker_connected") == 1


async def _a_sixth_call_is_refused(pod: EdgePod, registry: LocalRegistry) -> None:
    refused = await registry.availability("6")
    assert (refused["available"], refused["error"]) == (False, "Worker at capacity or draining")
    assert await get(pod.http_port, "/readyz") == (200, "ready\n")  # full is not unready


async def _a_killed_call_leaves_the_others_answering(
    pod: EdgePod, registry: LocalRegistry, hub: RoomHub
) -> None:
    before = total(await scrape(pod.http_port), "dtmf_presses_received_total")
    os.kill(hub.rooms["room-3"].pid, signal.SIGKILL)
    # The worker notices its job process is gone and frees the call's place.
    await registry.reply("job_update", "3", timeout=ANSWER_S, status="completed")
    assert (await registry.availability("7"))["available"] is True
    assert await get(pod.http_port, "/readyz") == (200, "ready\n")
    assert (await get(pod.http_port, "/healthz"))[0] == 200

    for job in ALIVE:
        await hub.rooms[f"room-{job}"].press(1)
    await hub.until(replied(hub, ALIVE, 5), timeout=ANSWER_S, what="answered after the kill")
    assert all(hub.rooms[f"room-{job}"].said[4:] == [SALES] for job in ALIVE)
    samples = await scrape(pod.http_port)
    assert total(samples, "dtmf_live_calls") == len(ALIVE)  # the dead process's is dropped
    # What the killed process counted stays counted: totals never go backwards.
    assert total(samples, "dtmf_presses_received_total") == before + len(ALIVE)


async def _draining_lets_the_calls_finish(
    pod: EdgePod, registry: LocalRegistry, hub: RoomHub, serving_pod: asyncio.Task[None]
) -> None:
    """Stopping the pod (SIGTERM on Kubernetes) with calls live: it turns unready and takes no
    new call at once, while the live calls go on being answered until they hang up; then it
    exits without waiting out its drain bound (`CALL_DRAIN_S`)."""
    status, reason = await get(pod.http_port, "/readyz")
    assert status == 503 and "stopping: taking no new calls" in reason
    refused = await registry.availability("8")
    assert refused["available"] is False

    for job in ALIVE:
        await hub.rooms[f"room-{job}"].press(2)
    await hub.until(replied(hub, ALIVE, 6), timeout=ANSWER_S, what="answered while draining")
    assert all(hub.rooms[f"room-{job}"].said[5:] == [SUPPORT] for job in ALIVE)
    assert total(await scrape(pod.http_port), "dtmf_live_calls") == len(ALIVE)
    assert not serving_pod.done()  # the drain waits for its calls

    for job in ALIVE:
        await hub.rooms[f"room-{job}"].hang_up()
    for job in ALIVE:
        await registry.reply("job_update", job, timeout=ANSWER_S, status="completed")
    # Its calls over, the pod closes: bounded by the job processes' own exit, well inside the
    # drain's bound.
    await asyncio.wait_for(asyncio.shield(serving_pod), CALL_DRAIN_S / 2)
