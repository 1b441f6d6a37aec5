"""`python -m bench.inband`, and the `inband` phase of `python -m bench`: what in-band DTMF
detection costs one call (issue #19). No broker: a few seconds of CPU, in this process.

One call's caller audio goes through `InbandSource.process` (the `AudioTap`: decimation,
the Goertzel windows, tones muted for the STT) and its presses through `Edge.press` to an
in-memory publisher, as the room delivers the audio: VideoSDK's default format (48 kHz
stereo, the most samples a call can bring) in 20 ms frames. The audio is quiet line noise
with a key press (the `send_digits` generator's 100 ms tones) every 2 s.

- CPU per call: the process CPU time spent on the audio (and its presses) over the seconds
  of audio: the share of one core a call costs. Target: under 1%.
- Latency: per press, from the tone's end to the event reaching the publisher. A frame
  reaches the edge once its last sample has been spoken, so it is the audio time from the
  tone's end to the end of the frame the press was detected in, plus the wall time from
  handing that frame over to the publish. Target: under 60 ms, for every press. The broker
  leg after it is what the other phases' press-to-reply measures.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.report import table
from contracts.events import AnyEvent, KeyPress
from services.edge.edge import Edge
from services.edge.tones import DEFAULT_TONE_MS, dtmf_pcm
from services.runtime.metrics import Metrics

RATE = 48000
CHANNELS = 2
FRAME_MS = 20
AUDIO_S = 60.0
PRESS_EVERY_S = 2.0
KEYS = "1234567890*#ABCD"
NOISE_RMS = 60.0  # about -54 dBm0: a quiet line
TARGET_CPU_PCT = 1.0
TARGET_LATENCY_MS = 60.0


class _Session:
    """The agent's side: nothing to say in a benchmark."""

    async def say(self, text: str) -> None: ...

    async def set_instructions(self, instructions: str) -> None: ...

    async def transfer(self, to: str) -> None: ...

    async def hangup(self, reason: str) -> None: ...

    async def interrupt(self) -> None: ...


@dataclass
class _Publisher:
    """Notes, for each press published, the frame being handled and the wall time."""

    frame: int = -1
    published: list[tuple[str, int, float]] = field(default_factory=list)

    async def publish(self, event: AnyEvent) -> None:
        if isinstance(event, KeyPress):
            self.published.append((event.key, self.frame, time.perf_counter()))


def caller_audio(seconds: float, *, seed: int = 7) -> tuple[bytes, list[tuple[str, float]]]:
    """Interleaved 16-bit stereo PCM, and each press as (key, the tone's end in seconds)."""
    rng = np.random.default_rng(seed)
    mono = rng.normal(0.0, NOISE_RMS, round(seconds * RATE))
    presses: list[tuple[str, float]] = []
    at = 0.5
    while at + 0.5 < seconds:
        key = KEYS[len(presses) % len(KEYS)]
        tone = dtmf_pcm(key, sample_rate=RATE, gap_ms=0)
        start = round(at * RATE)
        mono[start : start + len(tone)] += tone
        presses.append((key, at + DEFAULT_TONE_MS / 1000))
        # Tones end anywhere within a frame, as a caller's do.
        at += PRESS_EVERY_S + rng.uniform(0, FRAME_MS / 1000)
    pcm = np.repeat(np.clip(np.round(mono), -32768, 32767), CHANNELS).astype("<i2")
    return pcm.tobytes(), presses


async def _run(pcm: bytes) -> tuple[float, list[float], _Publisher]:
    # Imported here: videosdk-agents is slow to import, and only this phase needs it.
    from services.edge.videosdk.inband import InbandSource

    publisher = _Publisher()
    edge = Edge(edge_id="bench-inband", publisher=publisher, metrics=Metrics())
    source = InbandSource(edge)
    source.call = await edge.start_call(_Session(), source="videosdk")
    size = RATE * FRAME_MS // 1000 * CHANNELS * 2
    handed: list[float] = []
    cpu = time.process_time()
    for n, start in enumerate(range(0, len(pcm), size)):
        publisher.frame = n
        handed.append(time.perf_counter())
        source.process(pcm[start : start + size])
        await asyncio.sleep(0)  # the loop runs the press's publish, as in a call
    await source.drain()
    cpu = time.process_time() - cpu
    await edge.end_call(source.call)
    return cpu, handed, publisher


def measure(seconds: float = AUDIO_S) -> dict[str, Any]:
    """The phase's figures (see the module's docstring), in an event loop of its own."""
    return asyncio.run(measure_in_loop(seconds))


async def measure_in_loop(seconds: float = AUDIO_S) -> dict[str, Any]:
    """`measure` in the running event loop."""
    pcm, expected = caller_audio(seconds)
    cpu, handed, publisher = await _run(pcm)
    heard = "".join(key for key, _, _ in publisher.published)
    latencies = [
        ((frame + 1) * FRAME_MS / 1000 - tone_end + wall - handed[frame]) * 1000
        for (_, frame, wall), (_, tone_end) in zip(publisher.published, expected, strict=False)
    ]
    return {
        "format": {"sample_rate": RATE, "channels": CHANNELS, "frame_ms": FRAME_MS},
        "audio_s": seconds,
        "cpu_s": round(cpu, 4),
        "cpu_pct_per_call": round(100 * cpu / seconds, 3),
        "presses": len(expected),
        "decoded_exactly": heard == "".join(key for key, _ in expected),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1) if latencies else None,
            "max": round(max(latencies), 1) if latencies else None,
        },
    }


def targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    cpu, worst = result["cpu_pct_per_call"], result["latency_ms"]["max"]
    return {
        "inband_cpu_pct_of_a_core_per_call": {
            "target": f"< {TARGET_CPU_PCT}",
            "measured": cpu,
            "met": cpu < TARGET_CPU_PCT,
        },
        "inband_tone_end_to_event_ms_max": {
            "target": f"< {TARGET_LATENCY_MS}",
            "measured": worst,
            "met": result["decoded_exactly"] and worst is not None and worst < TARGET_LATENCY_MS,
        },
    }


def render(result: dict[str, Any]) -> str:
    f = result["format"]
    rows = [
        [name, t["target"], t["measured"], "met" if t["met"] else "MISSED"]
        for name, t in targets(result).items()
    ]
    return (
        f"\ninband: one call's audio through the DTMF detector ({f['sample_rate']} Hz, "
        f"{f['channels']} channels, {f['frame_ms']} ms frames), {result['audio_s']:g} s with "
        f"{result['presses']} presses, decoded exactly: {result['decoded_exactly']}; "
        f"latency p50 {result['latency_ms']['p50']} ms\n"
        + table(("target", "bound", "measured", ""), rows)
    )


def main() -> int:
    result = measure()
    sys.stdout.write(render(result))
    return 0 if all(t["met"] for t in targets(result).values()) else 2


if __name__ == "__main__":
    sys.exit(main())
