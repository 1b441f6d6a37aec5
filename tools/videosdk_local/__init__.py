"""Local stand-ins for VideoSDK's network side: the edge pod, through the SDK's real worker
and job machinery, on this machine with no VideoSDK account. Development tooling, shared by
the tests (tests/unit/test_videosdk.py, tests/integration/test_register_mode.py) and the
benchmark's register phase (bench/register), which must not import the test tree.

- `room.LocalPubSubRoom`: a room's network side in process (PubSub delivery, the participant,
  the session's end, the SIP transfer API), and `room.dtmf_message`, a ``DTMF_EVENT``
  message in the format VideoSDK documents.
- `registry.LocalRegistry`: VideoSDK's agent registry, a local websocket that sends the
  registry's messages (availability requests, job assignments) as its user decides. Point
  the SDK's ``fetch_agent_init_config`` at it.
- `hub.HubRoom`: a job's room, given by the pod's room factory seam (`hub.hub_room`) instead
  of VideoSDK's room; it takes its PubSub messages from a `hub.RoomHub` over a local
  websocket and reports what the agent said (`hub.HubPipeline`, a real Pipeline without
  STT/LLM/TTS providers) and its process id.

Not verified by anything built on these: that VideoSDK's registry dispatches jobs this way
(the protocol is read from videosdk-agents 1.0.30, not observed on the wire), its init-config
API, joining a real room, media, and PubSub delivery by VideoSDK.
"""
