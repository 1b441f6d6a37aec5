"""Inspect and replay the dead letters in `dtmf.dead`.

Two kinds of dead letter land in that queue:

- the runtime's own (`Runner._dead_letter`): bad input, with `x-dtmf-*` headers naming the
  reason, the service and where the message was first published;
- RabbitMQ's: a service queue dead-letters a press that expired (`expired`), kept failing
  (`delivery_limit`) or was rejected (`rejected`); those carry the standard `x-death` list
  and `x-first-death-*` headers instead.

Reading does not remove anything. Messages are taken with a consumer (manual ack) and
handed back unacknowledged when the channel closes. How a quorum queue takes them back
decides the order, and was checked against RabbitMQ 3.10:

- a consumer's unacked messages go, in delivery order, to the tail of the queue's
  "returned" list, which is delivered before everything else;
- so a reader that took only the first k messages would put them behind earlier returned
  ones (after one listing, all of them): the queue would rotate. Every call therefore
  takes the whole head of the queue, up to `SCAN_LIMIT` messages, whatever `limit` says;
  `limit` only bounds what is described or replayed;
- `basic.get` hands messages back in no particular order and `basic.nack(requeue=True)`
  moves them to the tail, so neither is used.

Every return counts as a delivery attempt: harmless while `dtmf.dead` has no delivery limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity, DeliveryError, PublishError

from contracts import topology as t
from services.runtime.settings import Settings, broker_urls

log = logging.getLogger(__name__)

REPLAYED_HEADER = "x-dtmf-replayed-from-dead"  # how many times this message was replayed

# Headers that describe a past death, not the event: a replayed message starts clean, so a
# new death is described by its own headers alone. `x-delivery-count` is the quorum
# queue's delivery annotation, which `dtmf.dead` itself adds every time it is listed.
_DEATH_HEADERS = frozenset(
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
# The same for every call (see the module docstring): a smaller take would rotate the queue.
SCAN_LIMIT = 10_000
CONNECT_TIMEOUT_S = 10.0
# How long to wait for the messages the queue said it holds; fewer arrive when another
# reader holds some of them unacknowledged.
FETCH_TIMEOUT_S = 5.0

Origin = Literal["runtime", "broker", "unknown"]


class DeadLetterError(Exception):
    """The broker cannot be reached, or answered something the tool cannot work with."""


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


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    replayed: tuple[str, ...]  # ids published again, in queue order
    removed: int  # dead letters acknowledged (copies sharing an id count separately)
    not_found: tuple[str, ...]
    unroutable: tuple[str, ...]  # refused by the broker; left in dtmf.dead


# --- reading headers --------------------------------------------------------------------


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


# --- the broker -------------------------------------------------------------------------


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{netloc}"))


async def connect_first(url: str, *, name: str) -> AbstractConnection:
    """The first node of AMQP_URL (one URL, or several separated by commas) that answers,
    for a command that runs once (no reconnects)."""
    failures = []
    for node in broker_urls(url):
        try:
            return await aio_pika.connect(
                node,
                timeout=CONNECT_TIMEOUT_S,
                client_properties={"connection_name": name},
            )
        except (OSError, AMQPError, TimeoutError) as error:
            failures.append(f"{redact(node)}: {str(error) or type(error).__name__}")
    raise DeadLetterError("cannot reach the broker at " + "; ".join(failures))


async def _take(channel: AbstractChannel) -> list[AbstractIncomingMessage]:
    """The head of dtmf.dead (up to SCAN_LIMIT), unacknowledged, in queue order."""
    try:
        queue = await channel.declare_queue(t.DEAD_QUEUE, passive=True)
    except ChannelNotFoundEntity:
        log.info("%s does not exist yet: no service has declared the topology", t.DEAD_QUEUE)
        return []
    depth = queue.declaration_result.message_count or 0
    if depth > SCAN_LIMIT:
        log.warning(
            "%s holds %d messages; only the first %d are looked at, and their order among "
            "themselves may change",
            t.DEAD_QUEUE,
            depth,
            SCAN_LIMIT,
        )
    target = min(depth, SCAN_LIMIT)
    taken = await take_head(channel, queue, target, timeout=FETCH_TIMEOUT_S)
    if len(taken) < target:
        log.warning(
            "%s held %d messages but only %d arrived: another reader holds the rest",
            t.DEAD_QUEUE,
            target,
            len(taken),
        )
    return taken


async def take_head(
    channel: AbstractChannel, queue: AbstractQueue, count: int, *, timeout: float
) -> list[AbstractIncomingMessage]:
    """Up to `count` messages from the head of `queue`, unacknowledged, in queue order;
    fewer if no more arrive within `timeout`. A consumer takes them, not basic.get, which
    quorum queues refuse on a single-active-consumer queue and return out of order."""
    if count == 0:
        return []
    # The prefetch is the bound: the broker delivers no more than we mean to hold.
    await channel.set_qos(prefetch_count=count)
    taken: list[AbstractIncomingMessage] = []
    enough = asyncio.Event()

    async def collect(message: AbstractIncomingMessage) -> None:
        taken.append(message)
        if len(taken) >= count:
            enough.set()

    tag = await queue.consume(collect)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(enough.wait(), timeout)
    # Cancel before anything is acked: an ack would make room for a further delivery.
    await queue.cancel(tag)
    return sorted(taken, key=lambda m: m.delivery_tag or 0)


@asynccontextmanager
async def _borrowed(
    url: str, *, confirms: bool
) -> AsyncIterator[tuple[AbstractChannel, list[AbstractIncomingMessage]]]:
    """The head of dtmf.dead, lent: whatever is not acked goes back, in order, on exit."""
    connection = await connect_first(url, name="dtmf-deadletters")
    try:
        # on_return_raises: an unroutable replay must fail, not vanish after its dead
        # copy was acked.
        channel = await connection.channel(publisher_confirms=confirms, on_return_raises=confirms)
        messages = await _take(channel)
        yield channel, messages
        # Closing the channel hands every unacked message back, in order, ahead of
        # anything that arrived meanwhile.
        await channel.close()
    finally:
        await connection.close()


async def list_dead_letters(url: str, *, limit: int = 100) -> list[DeadLetter]:
    """Describe up to `limit` dead letters from the head of `dtmf.dead`, oldest first.

    Nothing is removed: every message is back in the queue, in the same order, when this
    returns. A reader running at the same time sees the messages this one holds as absent.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    now = datetime.now(UTC)
    async with _borrowed(url, confirms=False) as (_, messages):
        return [describe(message, now=now) for message in messages[:limit]]


def _target_exchange(letter: DeadLetter) -> str:
    # Replies are addressed to an edge (routing key = edge id) on their own exchange;
    # everything else is an event and goes back through dtmf.events to every binding.
    if letter.original_exchange == t.REPLIES_EXCHANGE:
        return t.REPLIES_EXCHANGE
    return t.EVENTS_EXCHANGE


def _replay_message(message: AbstractIncomingMessage, *, replays: int) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items() if k not in _DEATH_HEADERS}
    headers[REPLAYED_HEADER] = replays + 1
    # No expiration (the broker dropped the per-message TTL when it dead-lettered, and an
    # old TTL would only kill the replay) and no user_id (the broker checks it against
    # this connection's user).
    return aio_pika.Message(
        body=message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        type=message.type,
        app_id=message.app_id,
        timestamp=message.timestamp,
        priority=message.priority,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def _republish(
    channel: AbstractChannel, message: AbstractIncomingMessage, letter: DeadLetter
) -> bool:
    """Publish one dead letter again and wait for the confirm; False if the broker refused."""
    name = _target_exchange(letter)
    exchange = await channel.get_exchange(name, ensure=False)
    try:
        await exchange.publish(
            _replay_message(message, replays=letter.replays),
            routing_key=letter.original_routing_key,
            mandatory=True,
        )
    except (PublishError, DeliveryError) as error:
        log.warning(
            "replay of %s to %s/%s refused (%s): left in %s",
            letter.message_id,
            name,
            letter.original_routing_key,
            error,
            t.DEAD_QUEUE,
        )
        return False
    log.info("replayed %s to %s/%s", letter.message_id, name, letter.original_routing_key)
    return True


async def replay_dead_letters(
    url: str,
    *,
    ids: Sequence[str] | None = None,
    all_: bool = False,
    limit: int = 1000,
) -> ReplayResult:
    """Publish chosen dead letters again and remove them from `dtmf.dead`.

    Choose by `ids` (the `message_id` of `list_dead_letters`) or `all_`, among the first
    `limit` dead letters. Each is published persistent, with publisher confirms and
    `mandatory`, to `dtmf.events` with its original routing key -- or, when it was a reply
    (original exchange `dtmf.replies`), to `dtmf.replies` with its routing key, the edge id.
    Its death headers (`x-dtmf-*`, `x-death`, `x-first-death-*`) are dropped and
    `x-dtmf-replayed-from-dead` counts the replays. The dead copy is acked only after the
    confirm: a crash in between duplicates the message, which consumers absorb by event id.

    Dead letters sharing an id (one event dead-lettered by two services) are published
    once: `dtmf.events` delivers it to every bound service again. A message the broker
    cannot route (say, a reply to an edge that is gone) stays in `dtmf.dead`, as do the
    messages not chosen, in their order.
    """
    if all_ == (ids is not None):
        raise ValueError("give either ids or all_=True")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    wanted = list(dict.fromkeys(ids or ()))  # deduplicated, in the order given
    wanted_set = set(wanted)
    replayed: list[str] = []
    unroutable: list[str] = []
    removed = 0
    async with _borrowed(url, confirms=True) as (channel, messages):
        chosen: dict[str, list[tuple[AbstractIncomingMessage, DeadLetter]]] = {}
        for message in messages[:limit]:
            letter = describe(message)
            if all_ or letter.message_id in wanted_set:
                chosen.setdefault(letter.message_id, []).append((message, letter))
        for message_id, copies in chosen.items():
            first, letter = copies[0]
            if not await _republish(channel, first, letter):
                unroutable.append(message_id)
                continue
            for copy, _ in copies:
                await copy.ack()
            replayed.append(message_id)
            removed += len(copies)
    return ReplayResult(
        replayed=tuple(replayed),
        removed=removed,
        not_found=tuple(i for i in wanted if i not in chosen),
        unroutable=tuple(unroutable),
    )


# --- command line -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`dtmf-bus dead-letters list|replay`."""
    sub = parser.add_subparsers(dest="dead_command", required=True)
    show = sub.add_parser("list", help=f"show the dead letters in {t.DEAD_QUEUE} (kept there)")
    show.add_argument("--limit", type=_positive, default=100, help="at most this many (100)")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    again = sub.add_parser(
        "replay", help="publish dead letters again and remove them from the dead-letter queue"
    )
    again.add_argument("ids", nargs="*", metavar="ID", help="ids shown by `list`")
    again.add_argument("--all", action="store_true", help="every dead letter (up to --limit)")
    again.add_argument(
        "--limit", type=_positive, default=1000, help="look at this many at most (1000)"
    )


def _positive(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


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


def _print_list(
    letters: Sequence[DeadLetter], *, as_json: bool, out: Callable[[str], None]
) -> None:
    if as_json:
        for letter in letters:
            out(json.dumps(letter.to_json(), ensure_ascii=False))
    elif letters:
        for line in format_table(letters):
            out(line)
    else:
        out(f"{t.DEAD_QUEUE} is empty")


def _report_replay(result: ReplayResult, *, out: Callable[[str], None]) -> int:
    out(f"replayed {len(result.replayed)}, removed {result.removed} from {t.DEAD_QUEUE}")
    code = 0
    if result.unroutable:
        print(
            f"error: the broker could not route {', '.join(result.unroutable)}; "
            f"left in {t.DEAD_QUEUE}",
            file=sys.stderr,
        )
        code = 1
    if result.not_found:
        print(f"error: not in {t.DEAD_QUEUE}: {', '.join(result.not_found)}", file=sys.stderr)
        code = 2
    return code


async def run(args: argparse.Namespace, *, out: Callable[[str], None] = print) -> int:
    """CLI entry: 0 ok; 1 when the broker refused a replay; 2 on bad ids or no broker."""
    url = Settings.from_env().amqp_url
    try:
        if args.dead_command == "list":
            letters = await list_dead_letters(url, limit=args.limit)
            _print_list(letters, as_json=args.json, out=out)
            return 0
        if args.all == bool(args.ids):
            print("error: give dead-letter ids or --all (not both)", file=sys.stderr)
            return 2
        result = await replay_dead_letters(
            url, ids=None if args.all else args.ids, all_=args.all, limit=args.limit
        )
    except DeadLetterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, AMQPError, TimeoutError) as error:
        # Lost mid-way: unacked messages go back to dtmf.dead; a replay may have
        # published some of them already (a duplicate, never a loss).
        print(f"error: broker failure: {error or type(error).__name__}", file=sys.stderr)
        return 2
    return _report_replay(result, out=out)
