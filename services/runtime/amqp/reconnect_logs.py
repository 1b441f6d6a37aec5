"""What the AMQP libraries log while a broker restarts or is away, brought to the level it
deserves: an ordinary reconnect is no ERROR, and one connection's outage is not a WARNING
every half second. Installed by every connect (services/runtime/amqp/broker.py)."""

from __future__ import annotations

import logging

from aio_pika import RobustChannel
from aio_pika.tools import OneShotCallback


class _OrdinaryReconnectNoise(logging.Filter):
    """Downgrades to DEBUG the records a clean broker restart makes, and nothing else.

    Operators page on ERROR. What these say is logged anyway, below ERROR: the loss once
    per connection by LinkState (WARNING, with the reason, and a reminder while it lasts).
    Written against aio-pika 10.2.1 and aiormq 7.2.4:

    - aio-pika's RobustChannel._on_close, run through a OneShotCallback (which logs what it
      raises at ERROR on "aio_pika.tools"), reopens the channel at once, also when the whole
      connection was lost. Its guard only skips a connection closed by the user, not a robust
      one that is reconnecting, so the reopen fails on the dead connection: "No active
      transport in channel" (ChannelInvalidStateError) once aio-pika dropped the transport,
      "<Connection ...> closed" (RuntimeError) before. Harmless: the robust connection
      restores the channel when it is back. Nothing in how we connect causes it; a bare
      connect_robust with one channel does the same.
    - aiormq logs at ERROR the broker's Connection.Close with reply code 320
      (CONNECTION_FORCED: the node shuts down, or an operator closed the connection)...
    - ...and every connection refused while the node is down ("error when creating
      transport").
    - aio-pika logs each failed reconnect attempt at WARNING, every reconnect interval per
      connection; LinkState's reminder says the same every STILL_AWAY_EVERY_S.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if not (
            (record.name == "aiormq.connection" and _is_aiormq_noise(record.msg, args))
            or (record.name == "aio_pika.tools" and _is_reopen_on_lost_connection(args))
            or (record.name == "aio_pika.robust_connection" and _is_failed_attempt(record.msg))
        ):
            return True
        # Render now: the callback in aio-pika's arguments is gone once the call returns.
        record.msg, record.args = record.getMessage(), ()
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # The logger let the record through at ERROR; ask again at its new level.
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


CONNECTION_FORCED = 320


def _is_aiormq_noise(msg: object, args: tuple[object, ...]) -> bool:
    if msg == "error when creating transport: %r" and len(args) == 1:
        error = args[0]
        return isinstance(error, Exception) and (
            isinstance(error, ConnectionRefusedError)
            or isinstance(error.__cause__, ConnectionRefusedError)
        )
    # log.error("Unexpected connection close from remote ...", connection, code, text)
    return (
        isinstance(msg, str)
        and msg.startswith("Unexpected connection close from remote")
        and len(args) == 3
        and args[1] == CONNECTION_FORCED
    )


def _is_reopen_on_lost_connection(args: tuple[object, ...]) -> bool:
    # log.error("Callback %r error: %s: %s", one_shot_callback, type_name, error)
    if len(args) != 3 or not isinstance(args[0], OneShotCallback):
        return False
    method, kind, error = getattr(args[0], "callback", None), args[1], str(args[2])
    failed_on_dead_connection = (
        kind == "ChannelInvalidStateError" and error == "No active transport in channel"
    ) or (kind == "RuntimeError" and error.endswith(" closed"))
    return (
        failed_on_dead_connection
        and getattr(method, "__name__", None) == "_on_close"
        and isinstance(getattr(method, "__self__", None), RobustChannel)
    )


def _is_failed_attempt(msg: object) -> bool:
    # log.warning('Connection attempt to "%s" failed: %s. Reconnecting after %r seconds.', ...)
    return isinstance(msg, str) and msg.startswith('Connection attempt to "%s" failed: %s.')


def quiet_ordinary_reconnects() -> None:
    """Install the filter once per process (every connect calls this)."""
    for name in ("aio_pika.tools", "aiormq.connection", "aio_pika.robust_connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OrdinaryReconnectNoise) for f in logger.filters):
            logger.addFilter(_OrdinaryReconnectNoise())
