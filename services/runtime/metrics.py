"""Every Prometheus metric dtmf-bus exposes, in one place.

Names carry the `dtmf_` prefix and base units; labels are bounded (key, source,
service, outcome, type), never a call id. Each process builds one `Metrics`; tests
pass their own registry.

An edge pod runs each call in a job process of its own and serves one /metrics for all of
them: its processes write their metrics to files in one directory (prometheus_client's
multiprocess mode, `share_through`) which the pod's worker merges when scraped. For that,
each gauge says how the processes' values merge (``multiprocess_mode``), gauges read
from a function are written by `sample_gauges`, and `Metrics(service=...)` gives every series
one service label for the pod instead of one per call. Single-process services never share:
for them all of this changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import prometheus_client
from prometheus_client import CollectorRegistry, values
from prometheus_client.metrics import MetricWrapperBase

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Bucket bounds at the press-to-reply targets, then a tail to see how bad it gets.
PRESS_TO_REPLY_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 1.0, 2.5, 5.0)
HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class _Pinned(MetricWrapperBase):
    """The service label, pinned: a pod's job processes each run their call under an edge id
    of their own, and one series per call would grow without bound in the pod's files.

    Children are also kept by the label values as given, so a press's counters cost a dict
    lookup rather than prometheus_client's checks, string copies and lock."""

    pinned_service: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._children: dict[tuple[object, ...], Self] = {}
        super().__init__(*args, **kwargs)

    def labels(self, *labelvalues: object, **labelkwargs: object) -> Self:
        if not labelkwargs and (child := self._children.get(labelvalues)) is not None:
            return child
        ordered, named = self._pin(labelvalues, labelkwargs)
        child = super().labels(*ordered, **named)
        if not labelkwargs:
            self._children[labelvalues] = child
        return child

    def _pin(
        self, ordered: tuple[object, ...], named: dict[str, object]
    ) -> tuple[tuple[object, ...], dict[str, object]]:
        if self.pinned_service is None or "service" not in self._labelnames:
            return ordered, named
        if named:
            return ordered, {**named, "service": self.pinned_service}
        at = self._labelnames.index("service")
        return (*ordered[:at], self.pinned_service, *ordered[at + 1 :]), named


class Counter(_Pinned, prometheus_client.Counter):
    pass


class Histogram(_Pinned, prometheus_client.Histogram):
    pass


class Gauge(_Pinned, prometheus_client.Gauge):
    def set_function(self, f: Callable[[], float]) -> None:
        super().set_function(f)
        if getattr(self._value, "_multiprocess", False):
            _SAMPLED[self] = f  # a file holds values, not functions: sample_gauges writes it


# Function-read gauges of this process whose values go to the shared files.
_SAMPLED: dict[Gauge, Callable[[], float]] = {}


def sample_gauges() -> None:
    """Write the current value of every function-read gauge to the shared files."""
    for gauge, read in list(_SAMPLED.items()):
        gauge.set(read())


def release_gauges() -> None:
    """Zero the function-read gauges and forget their functions: a job process whose call
    has ended holds nothing (no call, no press waiting, no connection)."""
    for gauge in list(_SAMPLED):
        gauge.set(0)
    _SAMPLED.clear()


def share_through(directory: Path) -> None:
    """From now on, metrics this process creates keep their values in files in `directory`,
    which a pod's worker merges (prometheus_client's multiprocess mode)."""
    if os.environ.get(MULTIPROC_DIR_ENV) == str(directory) and _shares():
        return
    os.environ[MULTIPROC_DIR_ENV] = str(directory)  # inherited by the processes started later
    # prometheus_client picks its value class once, at import, from the environment: a
    # process that imported it earlier switches here, before it creates a metric.
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


@contextmanager
def sharing(directory: Path) -> Iterator[None]:
    """`share_through` while inside; afterwards new metrics are this process's own again."""
    value_class, before = values.ValueClass, os.environ.get(MULTIPROC_DIR_ENV)
    share_through(directory)
    try:
        yield
    finally:
        values.ValueClass = value_class
        _SAMPLED.clear()  # they write to the directory
        if before is None:
            os.environ.pop(MULTIPROC_DIR_ENV, None)
        else:
            os.environ[MULTIPROC_DIR_ENV] = before


def _shares() -> bool:
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class Metrics:
    """Every metric of one process. `service`, when given, is the service label of every
    series, whatever the code passes (see `_Pinned`)."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, _Pinned):  # every metric, wherever __init__ defines it
            value.pinned_service = self._service
        super().__setattr__(name, value)

    def __init__(
        self, registry: CollectorRegistry | None = None, *, service: str | None = None
    ) -> None:
        self._service = service
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # edge
        self.presses_received = Counter(
            "dtmf_presses_received_total",
            "Key presses received from callers (key=masked: collected by a sensitive gather)",
            ["key", "source"],
            registry=r,
        )
        self.events_published = Counter(
            "dtmf_events_published_total",
            "Events handed to the broker (attempts)",
            ["type"],
            registry=r,
        )
        self.events_confirmed = Counter(
            "dtmf_events_confirmed_total", "Events the broker confirmed", ["type"], registry=r
        )
        self.events_publish_failed = Counter(
            "dtmf_events_publish_failed_total",
            "Publish attempts that failed (nack, timeout, connection lost)",
            ["type"],
            registry=r,
        )
        self.events_dropped = Counter(
            "dtmf_events_dropped_total",
            "Events an edge stopped with, neither confirmed nor spooled: lost",
            ["type"],
            registry=r,
        )
        self.publish_buffered = Gauge(
            "dtmf_publish_buffered",
            "Events waiting to be published while the broker is away",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.press_to_reply = Histogram(
            "dtmf_press_to_reply_seconds",
            "From the edge receiving a press to applying the first reply to it",
            buckets=PRESS_TO_REPLY_BUCKETS,
            registry=r,
        )
        self.live_calls = Gauge(
            "dtmf_live_calls", "Calls live on this edge", registry=r, multiprocess_mode="livesum"
        )
        self.reply_timeouts = Counter(
            "dtmf_reply_timeouts_total", "Presses that got no reply in time", registry=r
        )
        self.presses_shed = Counter(
            "dtmf_presses_shed_total",
            "Presses not published because too many were unanswered (the caller heard busy)",
            registry=r,
        )
        self.unanswered = Gauge(
            "dtmf_unanswered_presses",
            "Presses on this edge waiting for a reply",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.replies_applied = Counter(
            "dtmf_replies_applied_total", "Replies received by the edge", ["outcome"], registry=r
        )
        # Not pinned (a plain prometheus_client.Counter): `service` here names the service
        # that asked for the transfer, not this process.
        self.transfers_refused = prometheus_client.Counter(
            "dtmf_transfers_refused_total",
            "Transfers a reply asked for that DTMF_TRANSFER_ALLOW does not permit",
            ["service"],
            registry=r,
        )
        self.actions_refused = prometheus_client.Counter(
            "dtmf_actions_refused_total",
            "Reply actions the edge refused to carry out on a call, by action and reason "
            "(send_digits: collecting_input, no_audio)",
            ["action", "reason"],
            registry=r,
        )
        # every consumer (services, and the edge's reply queue)
        self.messages_handled = Counter(
            "dtmf_messages_handled_total",
            "Deliveries settled, by outcome",
            ["service", "outcome"],
            registry=r,
        )
        self.replies_undeliverable = Counter(
            "dtmf_replies_undeliverable_total",
            "Replies dropped because their edge had no reply queue for the reply timeout",
            ["service"],
            registry=r,
        )
        self.handler_duration = Histogram(
            "dtmf_handler_duration_seconds",
            "Time in the handler and publishing its reply",
            ["service"],
            buckets=HANDLER_BUCKETS,
            registry=r,
        )
        # A pod is connected while any of its processes is: its worker always holds a
        # connection, a job process only during its call.
        self.broker_connected = Gauge(
            "dtmf_broker_connected",
            "1 while connected to the broker",
            ["service"],
            registry=r,
            multiprocess_mode="livemax",
        )


# The names, for the monitoring assets' consistency test.
METRIC_NAMES = (
    "dtmf_presses_received_total",
    "dtmf_events_published_total",
    "dtmf_events_confirmed_total",
    "dtmf_events_publish_failed_total",
    "dtmf_events_dropped_total",
    "dtmf_publish_buffered",
    "dtmf_press_to_reply_seconds",
    "dtmf_live_calls",
    "dtmf_reply_timeouts_total",
    "dtmf_presses_shed_total",
    "dtmf_unanswered_presses",
    "dtmf_replies_applied_total",
    "dtmf_transfers_refused_total",
    "dtmf_actions_refused_total",
    "dtmf_messages_handled_total",
    "dtmf_handler_duration_seconds",
    "dtmf_replies_undeliverable_total",
    "dtmf_broker_connected",
)
