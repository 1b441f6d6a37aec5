"""Every Prometheus metric dtmf-bus exposes, in one place.

Names carry the `dtmf_` prefix and base units; labels are bounded (key, source,
service, outcome, type), never a call id. Each process builds one `Metrics`; tests
pass their own registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Bucket bounds at the press-to-reply targets, then a tail to see how bad it gets.
PRESS_TO_REPLY_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.25, 1.0, 2.5, 5.0)
HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        # edge
        self.presses_received = Counter(
            "dtmf_presses_received_total",
            "Key presses received from callers",
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
        self.publish_buffered = Gauge(
            "dtmf_publish_buffered",
            "Events waiting to be published while the broker is away",
            registry=r,
        )
        self.press_to_reply = Histogram(
            "dtmf_press_to_reply_seconds",
            "From the edge receiving a press to applying the first reply to it",
            buckets=PRESS_TO_REPLY_BUCKETS,
            registry=r,
        )
        self.live_calls = Gauge("dtmf_live_calls", "Calls live on this edge", registry=r)
        self.reply_timeouts = Counter(
            "dtmf_reply_timeouts_total", "Presses that got no reply in time", registry=r
        )
        self.presses_shed = Counter(
            "dtmf_presses_shed_total",
            "Presses not published because too many were unanswered (the caller heard busy)",
            registry=r,
        )
        self.unanswered = Gauge(
            "dtmf_unanswered_presses", "Presses on this edge waiting for a reply", registry=r
        )
        self.replies_applied = Counter(
            "dtmf_replies_applied_total", "Replies received by the edge", ["outcome"], registry=r
        )
        # every consumer (services, and the edge's reply queue)
        self.messages_handled = Counter(
            "dtmf_messages_handled_total",
            "Deliveries settled, by outcome",
            ["service", "outcome"],
            registry=r,
        )
        self.handler_duration = Histogram(
            "dtmf_handler_duration_seconds",
            "Time in the handler and publishing its reply",
            ["service"],
            buckets=HANDLER_BUCKETS,
            registry=r,
        )
        self.broker_connected = Gauge(
            "dtmf_broker_connected", "1 while connected to the broker", ["service"], registry=r
        )


# The names, for the monitoring assets' consistency test.
METRIC_NAMES = (
    "dtmf_presses_received_total",
    "dtmf_events_published_total",
    "dtmf_events_confirmed_total",
    "dtmf_events_publish_failed_total",
    "dtmf_publish_buffered",
    "dtmf_press_to_reply_seconds",
    "dtmf_live_calls",
    "dtmf_reply_timeouts_total",
    "dtmf_presses_shed_total",
    "dtmf_unanswered_presses",
    "dtmf_replies_applied_total",
    "dtmf_messages_handled_total",
    "dtmf_handler_duration_seconds",
    "dtmf_broker_connected",
)
