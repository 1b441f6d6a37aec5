"""`send_digits` on a VideoSDK call: the tones through the agent's real audio output track.

Real: videosdk-agents' `TeeCustomAudioStreamTrack` and `TeeMixingCustomAudioStreamTrack` (the
tracks a room gives the agent), `Pipeline`, `AgentSession`. The WebRTC sender is stood in for
by a task that pulls frames with the track's own `recv()`, in real time as the sender does;
what it pulled is decoded with the in-band detector. Not run here: a real peer, and what the
gateway's codec does to the tones on their way to the far end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from videosdk.agents import AgentSession, Pipeline
from videosdk.agents.room.output_stream import (
    TeeCustomAudioStreamTrack,
    TeeMixingCustomAudioStreamTrack,
)

from services.edge.inband.detector import DTMFDetector
from services.edge.tones import dtmf_pcm
from services.edge.videosdk import digits as adapter
from services.edge.videosdk.agent import IVRAgent
from services.edge.videosdk.digits import play_digits, queued
from services.edge.videosdk.session import VideoSDKCallSession

TRACKS = [TeeCustomAudioStreamTrack, TeeMixingCustomAudioStreamTrack]
BOUND_S = 10.0


class Sender:
    """Pulls the track's frames as the WebRTC sender does; keeps the audio it got."""

    def __init__(self, track: Any) -> None:
        self.track = track
        self.frames: list[bytes] = []
        self.sounding = asyncio.Event()  # a frame that is not silence went out

    async def run(self) -> None:
        while True:
            frame = await self.track.recv()
            self.frames.append(frame.to_ndarray().astype("<i2").tobytes())
            if any(self.frames[-1]):
                self.sounding.set()

    def heard(self) -> str:
        detector = DTMFDetector(sample_rate=self.track.sample_rate)
        pcm = np.frombuffer(b"".join(self.frames), dtype="<i2")
        return "".join(p.digit for p in [*detector.feed(pcm), *detector.flush()])


@asynccontextmanager
async def sending(track: Any) -> AsyncIterator[Sender]:
    sender = Sender(track)
    task = asyncio.create_task(sender.run())
    try:
        async with asyncio.timeout(BOUND_S):
            yield sender
    finally:
        task.cancel()


@pytest.mark.parametrize("track_class", TRACKS)
async def test_the_tones_go_out_on_the_track_and_play_returns_once_they_played(
    track_class: type,
) -> None:
    track = track_class(asyncio.get_running_loop())
    async with sending(track) as sender:
        assert await play_digits(track, "1#", tone_ms=100, gap_ms=100)
        assert not queued(track)
        pulled = len(sender.frames)
    # Everything was pulled before play returned: 0.4 s of tones, in 20 ms frames.
    assert pulled >= 400 // 20
    assert sender.heard() == "1#"


async def test_the_tones_are_whole_frames_at_the_tracks_rate() -> None:
    track = TeeCustomAudioStreamTrack(asyncio.get_running_loop())
    pcm = adapter.track_pcm(track, "5", tone_ms=45, gap_ms=45)  # 90 ms: not whole frames
    assert len(pcm) % track.chunk_size == 0
    tones = dtmf_pcm("5", sample_rate=track.sample_rate, tone_ms=45, gap_ms=45)
    assert pcm[: 2 * len(tones)] == tones.astype("<i2").tobytes()
    assert not any(pcm[2 * len(tones) :])  # the padding is silence


async def test_tones_still_play_after_a_barge_in_cut_the_agents_speech() -> None:
    track = TeeCustomAudioStreamTrack(asyncio.get_running_loop())
    track.interrupt_fade_duration = 0
    # What the TTS does before an utterance, then a key press interrupts it: the track now
    # drops any audio until enabled again.
    track.enable_audio_input(manual_control=True)
    await track.add_new_bytes(bytes(track.chunk_size * 5))
    track.interrupt()
    async with sending(track) as sender:
        assert await play_digits(track, "9", tone_ms=100, gap_ms=100)
    assert sender.heard() == "9"
    # The track is left in the mode the TTS set: a later barge-in still stops late audio.
    track.interrupt()
    await track.add_new_bytes(bytes(track.chunk_size))
    assert not queued(track)


async def test_a_barge_in_during_the_tones_ends_the_wait_early() -> None:
    track = TeeCustomAudioStreamTrack(asyncio.get_running_loop())
    track.interrupt_fade_duration = 0
    length_s = 10 * 0.2  # ten keys of 100 ms tone and 100 ms gap
    async with sending(track) as sender:
        play = asyncio.create_task(play_digits(track, "1234567890", tone_ms=100, gap_ms=100))
        started = time.monotonic()
        await sender.sounding.wait()
        track.interrupt()
        assert await play
        assert time.monotonic() - started < length_s


async def test_tones_queued_on_a_paused_track_play_on_resume_and_are_waited_for() -> None:
    # The SDK pauses the track while it decides whether the caller's sound interrupts.
    track = TeeCustomAudioStreamTrack(asyncio.get_running_loop())
    await track.pause()
    async with sending(track) as sender:
        play = asyncio.create_task(play_digits(track, "7", tone_ms=100, gap_ms=100))
        await asyncio.sleep(0)  # one turn: the tones are handed to the track
        assert queued(track) and not play.done()
        await track.resume()
        assert await play
    assert sender.heard() == "7"


async def test_a_sender_that_never_pulls_does_not_hold_the_reply_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adapter, "PLAYBACK_SLACK_S", 0.05)
    track = TeeCustomAudioStreamTrack(asyncio.get_running_loop())
    async with asyncio.timeout(BOUND_S):
        assert not await play_digits(track, "1", tone_ms=40, gap_ms=40)


async def test_the_call_session_plays_on_its_pipelines_track() -> None:
    loop = asyncio.get_running_loop()
    track = TeeCustomAudioStreamTrack(loop)
    pipeline = Pipeline()
    pipeline._set_loop_and_audio_track(loop, track)  # what JobContext does for the room's track
    session = VideoSDKCallSession(AgentSession(agent=IVRAgent(), pipeline=pipeline))
    async with sending(track) as sender:
        await session.send_digits("0*", tone_ms=60, gap_ms=60)
    assert sender.heard() == "0*"


async def test_without_an_output_track_the_call_session_drops_the_digits() -> None:
    session = VideoSDKCallSession(AgentSession(agent=IVRAgent(), pipeline=Pipeline()))
    async with asyncio.timeout(BOUND_S):
        await session.send_digits("1", tone_ms=40, gap_ms=40)  # logged, no error
