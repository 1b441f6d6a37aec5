"""`InbandSource`: DTMF tones in the caller's audio become presses of the call (``inband``).

Where the audio is taken (videosdk-agents 1.0.30): the room's input stream turns each frame
of the caller's track into 16-bit PCM bytes, reports its format to
`videosdk.agents.audio_format`, and awaits ``pipeline.on_audio_delta(pcm)``, which hands it
to the orchestrator (VAD, STT) or a realtime model. That call is the only place the bytes can
still be changed before recognition: ``Pipeline.on("speech_in", ...)`` accepts the name but
nothing in 1.0.30 emits it, and the global ``ON_SPEECH_IN`` event is observe-only (the frame
is converted after it). So `attach` wraps ``on_audio_delta`` on the pipeline instance: the
audio goes through an `AudioTap` (the detector, tones replaced by silence, one detection
window of delay) and then on as before.

Presses are published through `Edge.press` like the gateway's, with ``source="inband"``, the
tone's duration and its start as ``pressed_at``; `PressPairing` (policy ``both``) drops the
second report of a press the gateway also sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from videosdk.agents import audio_format

from contracts.base import utcnow
from services.edge.calls import Call
from services.edge.edge import Edge, EdgeBusy
from services.edge.inband.detector import DetectedPress
from services.edge.inband.pairing import PressPairing
from services.edge.inband.tap import AudioTap

log = logging.getLogger(__name__)

SOURCE = "inband"

AudioDelta = Callable[[bytes], Awaitable[None]]


class InbandSource:
    """One call's in-band key presses. Built before the call; `call` is set once it exists."""

    def __init__(
        self,
        edge: Edge,
        *,
        pairing: PressPairing | None = None,
        mute: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._edge = edge
        self._pairing = pairing
        self._mute = mute
        self._clock = clock
        self.call: Call | None = None
        self.tap: AudioTap | None = None
        self._format: tuple[int, int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, pipeline: Any) -> None:
        """Route the caller's audio through the detector before `pipeline` processes it."""
        forward: AudioDelta = pipeline.on_audio_delta

        async def on_audio_delta(audio_data: bytes) -> None:
            await forward(self.process(audio_data))

        pipeline.on_audio_delta = on_audio_delta

    def process(self, pcm: bytes) -> bytes:
        """Detect in one chunk of the caller's audio; the chunk for speech recognition."""
        tap = self._tap()
        if tap is None:
            return pcm
        out, presses = tap.process(pcm)
        for press in presses:
            self._publish_soon(press, tap)
        return out

    def _tap(self) -> AudioTap | None:
        rate, channels = audio_format.get()
        current = (
            rate or audio_format.DEFAULT_SAMPLE_RATE,
            channels or audio_format.DEFAULT_CHANNELS,
        )
        if current != self._format:
            self._switch(current)
        return self.tap

    def _switch(self, current: tuple[int, int]) -> None:
        if self.tap is not None:  # the stream changed format: finish the old one's tone
            for press in self.tap.flush():
                self._publish_soon(press, self.tap)
        self._format = current
        rate, channels = current
        try:
            self.tap = AudioTap(sample_rate=rate, channels=channels, mute=self._mute)
        except ValueError as error:
            self.tap = None
            log.warning("in-band DTMF off for this audio: %s", error)

    def _publish_soon(self, press: DetectedPress, tap: AudioTap) -> None:
        now = self._clock()
        ago = tap.audio_time_s - press.started_s  # the tone began this long before now
        pairing = self._pairing
        if pairing and not pairing.inband(press.digit, started=now - ago, at=now):
            log.debug("in-band %s dropped: the gateway reported that press", press.digit)
            return
        # A task per press, created in detection order: Edge.press numbers a press before
        # its first await, so sequence numbers follow the tones.
        pressed_at = utcnow() - timedelta(seconds=ago)
        task = asyncio.get_running_loop().create_task(self._publish(press, pressed_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, press: DetectedPress, pressed_at: Any) -> None:
        call = self.call
        if call is None or call.ended:
            log.warning("in-band press %s dropped: no live call for it", press.digit)
            return
        try:
            await self._edge.press(
                call,
                press.digit,
                pressed_at=pressed_at,
                duration_ms=press.duration_ms,
                source=SOURCE,
                source_payload={"detector": "goertzel", "sample_rate": self._format_rate()},
            )
        except EdgeBusy:
            log.debug("call %s: in-band press %s shed (edge busy)", call.call_id, press.digit)
        except Exception:
            log.exception("call %s: in-band press %s not published", call.call_id, press.digit)

    def _format_rate(self) -> int | None:
        return self._format[0] if self._format else None

    async def drain(self) -> None:
        """The call is ending: report a tone still on, wait for presses in flight."""
        if self.tap is not None:
            for press in self.tap.flush():
                self._publish_soon(press, self.tap)
        while pending := [task for task in self._tasks if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)
