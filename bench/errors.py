"""The benchmark's own failure: bad options, a process that fails or hangs, a failed phase."""

from __future__ import annotations


class BenchError(RuntimeError):
    pass
