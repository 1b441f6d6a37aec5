"""Outbound DTMF on a VideoSDK call: `send_digits` tones into the agent's audio output.

videosdk-agents 1.0.30 has no send-DTMF call, so the tones are played as audio. Where the
agent's audio goes: ``pipeline.audio_track``, the room's `CustomAudioStreamTrack` (or its tee
or mixing subclass; room/output_stream.py). ``add_new_bytes(pcm)`` takes 16-bit PCM at the
track's ``sample_rate`` (24 kHz) and ``channels`` (1) and queues it in 20 ms frames
(``chunk_size`` bytes: a partial frame waits for more bytes, so the tones are padded to whole
frames); the WebRTC sender pulls them with ``recv()`` in real time. The TTS writes there too,
so tones pushed after a `Say` returned (it waits for its last audio byte) play after it.

Not ``AgentSession.say(audio_data=...)``: with a realtime model it ignores the audio and has
the model speak the text instead.

After a barge-in a track in manual audio control refuses bytes until `enable_audio_input`
(the TTS re-enables it before each utterance); the tones do the same, keeping the mode the
track was in (the SDK itself resets that flag when a pipeline changes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

import numpy as np

from services.edge.tones import dtmf_pcm

log = logging.getLogger(__name__)

POLL_S = 0.02  # one frame of the track
# Past the tones' own length: how long to wait for the sender to play them before giving
# up (a stalled or closed peer must not hold the call's replies forever).
PLAYBACK_SLACK_S = 2.0


class AudioOutput(Protocol):
    """What this module uses of videosdk-agents' `CustomAudioStreamTrack`."""

    sample_rate: int
    channels: int
    chunk_size: int
    frame_buffer: list[Any]
    audio_data_buffer: bytearray

    async def add_new_bytes(self, audio_data: bytes) -> None: ...

    def enable_audio_input(self, manual_control: bool = False) -> None: ...


def track_pcm(track: AudioOutput, digits: str, *, tone_ms: int, gap_ms: int) -> bytes:
    """The tones as the track takes them: its rate and channels, whole frames."""
    mono = dtmf_pcm(digits, sample_rate=track.sample_rate, tone_ms=tone_ms, gap_ms=gap_ms)
    pcm = np.repeat(mono, max(track.channels, 1)).astype("<i2").tobytes()
    return pcm + bytes(-len(pcm) % track.chunk_size)


def queued(track: AudioOutput) -> bool:
    """Audio still waits in the track: frames, raw bytes (a mixing track), or frames held
    while the SDK has paused the track (it may be the caller's speech; resumed or dropped)."""
    paused = getattr(track, "_paused_frames", None)
    return bool(track.frame_buffer) or bool(track.audio_data_buffer) or bool(paused)


async def play_digits(track: AudioOutput, digits: str, *, tone_ms: int, gap_ms: int) -> bool:
    """Queue the tones on the track and return once they have played (the track's queue
    is empty: played, or cut short by an interrupt). False if they were still queued when
    the wait gave up."""
    pcm = track_pcm(track, digits, tone_ms=tone_ms, gap_ms=gap_ms)
    seconds = len(pcm) / (2 * max(track.channels, 1) * track.sample_rate)
    track.enable_audio_input(manual_control=getattr(track, "_manual_audio_control", False))
    await track.add_new_bytes(pcm)
    deadline = time.monotonic() + seconds + PLAYBACK_SLACK_S
    while queued(track):
        if time.monotonic() > deadline:
            log.warning("DTMF tones (%.2f s) not played within %.1f s", seconds, PLAYBACK_SLACK_S)
            return False
        await asyncio.sleep(POLL_S)
    return True
