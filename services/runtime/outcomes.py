"""What became of one delivery, decided by the pure core and acted on by the runner.

Plain values and exceptions, importing nothing of aio-pika: dispatch and the edge return
an `Outcome` (or raise `BadMessage`), and only the runner turns that into an ack, a
requeue or a dead letter.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    REPLIED = "replied"
    NO_REPLY = "no_reply"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    EXPIRED = "expired"
    STALE_CALL = "stale_call"
    SUPERSEDED = "superseded"
    REQUEUED = "requeued"


class BadMessage(Exception):
    """The message can never be handled; it goes to `dtmf.dead` with this reason."""


class Expired(BadMessage):
    """Too old to act on: dead-lettered like bad input, but counted as expired."""
