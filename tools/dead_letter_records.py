"""What a message in `dtmf.dead` says about itself: a typed record read from its headers,
whoever dead-lettered it (the runtime's `x-dtmf-*` headers or the broker's `x-death`), and
the table `dtmf-bus dead-letters list` prints."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from aio_pika.abc import AbstractIncomingMessage

from contracts import topology as t

REPLAYED_HEADER = "x-dtmf-replayed-from-dead"  # how many times this message was replayed

# Headers that describe a past death, not the event: a replayed message starts clean, so a
# new death is described by its own headers alone. `x-delivery-count` is the quorum
# queue's delivery annotation, which `dtmf.dead` itself adds every time it is listed.
DEATH_HEADERS = frozenset(
    {
        t.DEAD_REASON_HEADER,
        t.DEAD_SERVICE_HEADER,
        t.DEAD_EXCHANGE_HEADER,
        t.DEAD_ROUTING_KEY_HEADER,
        t.DEAD_AT_HEADER,
        "x-death",
        "x-first-death-reason",
        "x-first-death-queue",
        "x-first-death-exchange",
        "x-last-death-reason",
        "x-last-death-queue",
        "x-last-death-exchange",
        "x-delivery-count",
    }
)

PREVIEW_CHARS = 120

Origin = Literal["runtime", "broker", "unknown"]


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """One message in `dtmf.dead`, described from its headers."""

    message_id: str  # the AMQP message id (the event id), or a hash when it has none
    reason: str
    service: str  # the runtime service that dead-lettered it, or the broker's queue
    origin: Origin
    original_exchange: str
    original_routing_key: str
    dead_at: datetime | None
    age_s: float | None
    body_preview: str
    size: int
    content_type: str | None
    replays: int  # times it was replayed from dtmf.dead before dying again

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["dead_at"] = self.dead_at.isoformat() if self.dead_at else None
        return record


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        # pamqp decodes AMQP timestamps as aware UTC; be lenient with naive ones.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = _text(value)
    if not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _deaths(headers: Mapping[str, object]) -> list[Mapping[str, object]]:
    deaths = headers.get("x-death")
    if not isinstance(deaths, list):
        return []
    return [d for d in deaths if isinstance(d, Mapping)]


def _first_routing_key(death: Mapping[str, object]) -> str | None:
    keys = death.get("routing-keys")
    if isinstance(keys, list) and keys:
        return _text(keys[0])
    return None


def _first_death(
    headers: Mapping[str, object], deaths: list[Mapping[str, object]]
) -> Mapping[str, object]:
    # x-death is newest first and keyed by {queue, reason}; the entry that matches the
    # x-first-death-* headers is where the message was originally published.
    queue = _text(headers.get("x-first-death-queue"))
    reason = _text(headers.get("x-first-death-reason"))
    for death in deaths:
        if _text(death.get("queue")) == queue and _text(death.get("reason")) == reason:
            return death
    return deaths[-1]


def _preview(body: bytes) -> str:
    text = body[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
    # One line per dead letter in the table, whatever the body holds.
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    flat = " ".join(flat.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _fallback_id(body: bytes, dead_at: str, service: str) -> str:
    # Stable across listings (nothing in it changes while the message waits). The service
    # tells apart copies of one message that two services dead-lettered at the same instant.
    digest = hashlib.sha256(body)
    digest.update(b"\0" + dead_at.encode() + b"\0" + service.encode())
    return "h-" + digest.hexdigest()[:16]


def _replays(headers: Mapping[str, object]) -> int:
    value = headers.get(REPLAYED_HEADER)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def describe(message: AbstractIncomingMessage, *, now: datetime | None = None) -> DeadLetter:
    """A typed record from a delivery of `dtmf.dead`, whoever dead-lettered it."""
    headers: Mapping[str, object] = message.headers or {}
    deaths = _deaths(headers)
    origin: Origin
    if t.DEAD_REASON_HEADER in headers:
        origin = "runtime"
        reason = _text(headers.get(t.DEAD_REASON_HEADER)) or ""
        service = _text(headers.get(t.DEAD_SERVICE_HEADER)) or ""
        exchange = _text(headers.get(t.DEAD_EXCHANGE_HEADER)) or ""
        routing_key = _text(headers.get(t.DEAD_ROUTING_KEY_HEADER)) or message.routing_key or ""
        raw_dead_at: object = headers.get(t.DEAD_AT_HEADER)
    elif deaths:
        origin = "broker"
        latest, first = deaths[0], _first_death(headers, deaths)
        reason = _text(latest.get("reason")) or ""
        service = _text(latest.get("queue")) or ""
        exchange = (
            _text(headers.get("x-first-death-exchange")) or _text(first.get("exchange")) or ""
        )
        # The broker republishes with the original routing key, so the delivery's own
        # routing key is the fallback.
        routing_key = _first_routing_key(first) or message.routing_key or ""
        raw_dead_at = latest.get("time")
    else:
        origin, reason, service, exchange = "unknown", "unknown", "", ""
        routing_key = message.routing_key or ""
        raw_dead_at = None
    dead_at = _utc(raw_dead_at)
    now = now or datetime.now(UTC)
    return DeadLetter(
        message_id=message.message_id
        or _fallback_id(message.body, _text(raw_dead_at) or "", service),
        reason=reason,
        service=service,
        origin=origin,
        original_exchange=exchange,
        original_routing_key=routing_key,
        dead_at=dead_at,
        age_s=(now - dead_at).total_seconds() if dead_at else None,
        body_preview=_preview(message.body),
        size=len(message.body),
        content_type=message.content_type,
        replays=_replays(headers),
    )


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(letters: Sequence[DeadLetter]) -> list[str]:
    rows = [("AGE", "REASON", "SERVICE", "ROUTING KEY", "ID", "PREVIEW")]
    rows += [
        (
            _age(dl.age_s),
            _clip(dl.reason, 48),
            dl.service,
            dl.original_routing_key,
            dl.message_id,
            _clip(dl.body_preview, 60),
        )
        for dl in letters
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True))
        + "  "
        + row[5]
        for row in rows
    ]
