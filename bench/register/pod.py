"""`python -m bench.register.pod --registry URL --hub URL`: the edge pod the register phase
measures, in a process of its own so that its figures are the pod's alone.

It is `running_pod`, what ``dtmf-bus edge --source videosdk --register`` runs, with the
settings of the environment (``AMQP_URL``, ``DTMF_EDGE_MAX_CALLS``, ...) and three seams
pointed at this machine: VideoSDK's registry (the SDK's init-config lookup returns
`--registry`), the rooms (`hub_room` on `--hub`) and the pipeline (`HubPipeline`). Once up
it prints ``{"event": "up", "port": <its HTTP port>}`` on stdout; it drains and exits on
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import signal
import sys
from dataclasses import replace

import videosdk.agents.worker

from services.edge.settings import EdgeSettings
from services.edge.videosdk.pod import running_pod
from services.edge.videosdk.settings import VideoSDKSettings
from services.runtime.lifecycle import setup_logging
from tools.videosdk_local.hub import HubPipeline, hub_room
from tools.videosdk_local.registry import TOKEN

AGENT_ID = "dtmf-bus-bench"
DRAIN_S = 30.0  # calls are hung up before the pod is stopped: the drain is short


async def serve(registry_url: str, hub_url: str) -> None:
    async def local_registry(**_: object) -> str:
        return registry_url

    # The one lookup VideoSDK's cloud would answer: where its registry is.
    videosdk.agents.worker.fetch_agent_init_config = local_registry
    settings = replace(
        EdgeSettings.from_env(), edge_id="bench-pod", http_host="127.0.0.1", http_port=0
    )
    setup_logging(settings.log_level)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running_pod(
        settings,
        videosdk=VideoSDKSettings(auth_token=TOKEN, agent_id=AGENT_ID, agent_name="IVR"),
        pipeline_factory=HubPipeline,
        room_factory=functools.partial(hub_room, hub_url),
        sdk_port=0,
        drain_s=DRAIN_S,
    ) as pod:
        sys.stdout.write(json.dumps({"event": "up", "port": pod.http_port}) + "\n")
        sys.stdout.flush()
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.register.pod")
    parser.add_argument("--registry", required=True, help="the local registry's websocket URL")
    parser.add_argument("--hub", required=True, help="the room hub's websocket URL (no path)")
    args = parser.parse_args()
    asyncio.run(serve(args.registry, args.hub))


if __name__ == "__main__":
    main()
