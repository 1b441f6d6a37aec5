"""The VideoSDK call source of the media edge: one VideoSDK job (one room, one phone call)
becomes one `Call` on the `Edge`.

- `messages`: ``DTMF_EVENT`` PubSub messages -> `Edge.press` (parsing, `DTMFForwarder`).
- `dtmf_handler`: `BusDTMFHandler`, the `DTMFHandler` that hands over whole messages.
- `session`: `VideoSDKCallSession`, the `CallSession` replies act on (an `AgentSession`).
- `agent`: `IVRAgent`, the default phone-menu agent.
- `settings`: `VideoSDKSettings` from the environment, and the pipeline factory it names.
- `entrypoint`: `run_call` / `make_entrypoint`, one job served as one call.
- `worker`: `serve` (one room, in a running loop) and `build_worker_job` (the SDK's
  `WorkerJob`: registered, one process per job).
- `pod`: the edge pod, ``--register``: the SDK's `Worker` and its process executor, with
  the pod's /metrics (`pod_metrics`: every job process's, merged), /healthz and /readyz.

All but `messages` import videosdk-agents, which is slow to import, so this package imports
none of them: import the module you need, when you need it.
"""
