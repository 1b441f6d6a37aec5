"""A clean broker restart is ordinary: no ERROR record (operators page on ERROR), and each
connection says once, at WARNING/INFO, which node it lost and why, and when it is back."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aio_pika import RobustChannel
from aio_pika.exceptions import ChannelInvalidStateError, ChannelPreconditionFailed
from aio_pika.tools import OneShotCallback
from aiormq.exceptions import AMQPConnectionError

from services.edge.bus import running_edge
from services.edge.simulator import scripted_call
from services.runtime.amqp.reconnect_logs import quiet_ordinary_reconnects
from services.runtime.app import running_service
from services.sales import service as sales
from tests.integration.conftest import SystemSettings
from tools.private_nodes.broker import PrivateBroker

SALES = "dtmf-sales"
EDGE = "dtmf-edge-edge-logging"


def link_records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "services.runtime.amqp.broker" and text in r.message
    ]


@pytest.mark.timeout(150)
async def test_a_clean_broker_restart_logs_one_warning_per_connection_and_no_error(
    broker: PrivateBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Every logger at DEBUG: an earlier test in this process may have quieted aiormq.
    for name in (None, "aiormq", "aio_pika"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings = SystemSettings(
        amqp_url=broker.url,
        calllog_path=tmp_path / "calllog.jsonl",
        spool_dir=tmp_path / "spool",
        edge_id="edge-logging",
        http_port=-1,
        shutdown_timeout_s=5,
    )
    node = f"127.0.0.1:{broker.port}"
    async with (
        running_service(sales.build(settings), settings) as service,
        running_edge(settings) as edge,
    ):
        assert edge.link is not None
        assert (
            await scripted_call(edge, ["1"], reply_timeout=10, out=lambda _: None)
        ).unanswered == []

        await asyncio.to_thread(broker.stop)
        await service.link.wait_for(False, timeout=30)
        await edge.link.wait_for(False, timeout=30)
        await asyncio.to_thread(broker.start)
        await service.link.wait_for(True, timeout=60)
        await edge.link.wait_for(True, timeout=60)
        assert (
            await scripted_call(edge, ["1"], reply_timeout=10, out=lambda _: None)
        ).unanswered == []

    errors = [
        f"{r.levelname} {r.name}: {r.message}" for r in caplog.records if r.levelno >= logging.ERROR
    ]
    assert errors == []
    # Not a WARNING per failed attempt (every 0.5 s while the node was down): the loss once.
    # (The node takes seconds to boot: attempts did fail meanwhile.)
    attempts = [r for r in caplog.records if str(r.msg).startswith("Connection attempt")]
    assert attempts
    assert all(r.levelno < logging.WARNING for r in attempts)

    lost = link_records(caplog, " lost (")
    restored = link_records(caplog, " restored on ")
    assert sorted(r.message.split(":")[0] for r in lost) == sorted([SALES, EDGE])
    assert sorted(r.message.split(":")[0] for r in restored) == sorted([SALES, EDGE])
    for record in lost:
        assert record.levelno == logging.WARNING
        assert f"connection to {node} lost (" in record.message
        assert "CONNECTION_FORCED" in record.message  # the reason: the node shut down
    for record in restored:
        assert record.levelno in (logging.INFO, logging.WARNING)
        assert record.message.endswith(f"connection restored on {node}")


# The libraries' own format strings (aio-pika 10.2.1 tools.py, aiormq 7.2.4 connection.py).
CALLBACK_FAILED = "Callback %r error: %s: %s"
CLOSED_BY_BROKER = (
    'Unexpected connection close from remote "%s", Connection.Close(reply_code=%r, reply_text=%r)'
)
NO_TRANSPORT = "error when creating transport: %r"
ATTEMPT_FAILED = 'Connection attempt to "%s" failed: %s. Reconnecting after %r seconds.'
ATTEMPT_CANCELLED = 'Connection attempt to "%s" cancelled. Reconnecting after %r seconds.'


def refused() -> AMQPConnectionError:
    """What aiormq raises when nothing listens on the node's port."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5672)")
        except OSError as error:
            raise AMQPConnectionError(*error.args) from error
    except AMQPConnectionError as error:
        return error


async def test_only_the_known_reconnect_records_lose_their_error_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in (None, "aiormq", "aio_pika"):
        caplog.set_level(logging.DEBUG, logger=name)
    quiet_ordinary_reconnects()
    channel = RobustChannel(connection=None)  # type: ignore[arg-type]
    reopen, other = OneShotCallback(channel._on_close), OneShotCallback(channel.reopen)
    gone = ChannelInvalidStateError("No active transport in channel")
    dead = RuntimeError('<Connection: "amqp://guest:******@h:5672/" at 0x7f> closed')
    refusal = ChannelPreconditionFailed("PRECONDITION_FAILED")
    tools, aiormq = logging.getLogger("aio_pika.tools"), logging.getLogger("aiormq.connection")
    robust = logging.getLogger("aio_pika.robust_connection")
    cases = [
        (tools, CALLBACK_FAILED, (reopen, "ChannelInvalidStateError", gone), logging.DEBUG),
        (tools, CALLBACK_FAILED, (reopen, "RuntimeError", dead), logging.DEBUG),
        (tools, CALLBACK_FAILED, (reopen, "ChannelPreconditionFailed", refusal), logging.ERROR),
        (tools, CALLBACK_FAILED, (other, "ChannelInvalidStateError", gone), logging.ERROR),
        (aiormq, CLOSED_BY_BROKER, ("amqp://h", 320, "CONNECTION_FORCED"), logging.DEBUG),
        (aiormq, CLOSED_BY_BROKER, ("amqp://h", 541, "INTERNAL_ERROR"), logging.ERROR),
        (aiormq, NO_TRANSPORT, (refused(),), logging.DEBUG),
        (aiormq, NO_TRANSPORT, (AMQPConnectionError("TLS handshake"),), logging.ERROR),
        # Each failed attempt: LinkState says it once, then a reminder while it lasts.
        (robust, ATTEMPT_FAILED, ("amqp://h", refused(), 0.5), logging.DEBUG),
        (robust, ATTEMPT_CANCELLED, ("amqp://h", 0.5), logging.ERROR),
    ]
    for logger, msg, args, _ in cases:
        logger.error(msg, *args)
    assert [r.levelno for r in caplog.records] == [level for *_, level in cases]

    # Where a logger shows only errors (setup_logging sets aiormq so), a downgraded record
    # is not shown at all.
    caplog.clear()
    caplog.set_level(logging.ERROR, logger="aiormq")
    aiormq.error(CLOSED_BY_BROKER, "amqp://h", 320, "CONNECTION_FORCED")
    assert caplog.records == []
