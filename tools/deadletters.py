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
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import AMQPError, ChannelNotFoundEntity, DeliveryError, PublishError

from contracts import topology as t
from services.runtime.amqp.codec import copy_of
from services.runtime.settings import Settings
from tools.broker_client import BrokerUnreachable, connect_first, take_head
from tools.dead_letter_records import (
    DEATH_HEADERS,
    REPLAYED_HEADER,
    DeadLetter,
    describe,
    format_table,
)

__all__ = [
    "REPLAYED_HEADER",
    "DeadLetter",
    "ReplayResult",
    "describe",
    "list_dead_letters",
    "replay_dead_letters",
]

log = logging.getLogger(__name__)

# The same for every call (see the module docstring): a smaller take would rotate the queue.
SCAN_LIMIT = 10_000
# How long to wait for the messages the queue said it holds; fewer arrive when another
# reader holds some of them unacknowledged.
FETCH_TIMEOUT_S = 5.0


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    replayed: tuple[str, ...]  # ids published again, in queue order
    removed: int  # dead letters acknowledged (copies sharing an id count separately)
    not_found: tuple[str, ...]
    unroutable: tuple[str, ...]  # refused by the broker; left in dtmf.dead


# --- the broker -------------------------------------------------------------------------


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
    headers = {k: v for k, v in (message.headers or {}).items() if k not in DEATH_HEADERS}
    headers[REPLAYED_HEADER] = replays + 1
    return copy_of(message, headers=headers)


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
    except BrokerUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (OSError, AMQPError, TimeoutError) as error:
        # Lost mid-way: unacked messages go back to dtmf.dead; a replay may have
        # published some of them already (a duplicate, never a loss).
        print(f"error: broker failure: {error or type(error).__name__}", file=sys.stderr)
        return 2
    return _report_replay(result, out=out)
