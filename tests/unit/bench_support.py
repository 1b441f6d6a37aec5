"""What the bench's unit tests share."""

from __future__ import annotations

from typing import Any, cast

from bench.cli import build_parser
from bench.run import Run


def run_with(results: dict[str, dict[str, Any]]) -> Run:
    """A run with the default options that has measured `results` so far; it starts
    nothing, so only its plan's second step (`Run.expand`) can be used."""
    run = Run(
        build_parser().parse_args([]),
        url="amqp://x/",
        port=5672,
        processes=cast(Any, None),
        services=cast(Any, None),
    )
    run.results.update(results)
    return run
