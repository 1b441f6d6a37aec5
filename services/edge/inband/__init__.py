"""In-band DTMF: key presses heard as tones in the caller's audio (no RFC 4733 event).

Pure modules, no broker and no VideoSDK:

- `tones`: the DTMF frequency table and the level convention (dBm0 for 16-bit PCM).
- `resample`: `Decimator`, any multiple of 8 kHz down to the detector's 8 kHz.
- `analysis`: `WindowAnalyzer`, the per-window Goertzel/DFT checks (Q.24 acceptance).
- `detector`: `DTMFDetector`, the digit state machine: one report per press, with its length.
- `tap`: `AudioTap`, the caller's audio through the detector, tones replaced by silence.
- `pairing`: `SourcePolicy` and `PressPairing`, one event per press when the gateway and the
  detector both report it.
"""
