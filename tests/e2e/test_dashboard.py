"""Every query of the Grafana dashboard, evaluated by a real Prometheus after a simulated call,
returns data.

The bus runs against a RabbitMQ node of the test's own with `rabbitmq_prometheus` enabled (the
machine's shared broker has no plugins, and stays as it is), scraped as job `rabbitmq` at
/metrics/per-object like deploy/monitoring/prometheus.yml does. After a call through the
keypad edge, each template variable is resolved the way Grafana resolves a default
selection (its `label_values(...)` query asked of this Prometheus, "All" selected), and every
panel target and annotation query of deploy/monitoring/grafana-dashboard.json is evaluated
through /api/v1/query (instant targets) or /api/v1/query_range (the others). Each must return
at least one series, except the few listed in MAY_BE_EMPTY with the reason."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.prometheus_stack import ROOT, SCRAPE_INTERVAL_S, Bus, api, eventually, running_bus
from tools.private_nodes.broker import PrivateBroker

DASHBOARD = ROOT / "deploy/monitoring/grafana-dashboard.json"
# Sales, a key nobody serves (the menu answers it through the alternate exchange), support.
KEYS = "192"
# Grafana's $__rate_interval is max($__interval + scrape interval, 4 x scrape interval): 4 s
# for a data source whose scrape interval is this Prometheus's 1 s. A few more seconds keep
# two samples in every window when a scrape comes late on a busy machine.
RATE_INTERVAL = "10s"


# The queries a healthy bus may answer with nothing after one short call, and why. Keep it
# short: everything else must return a series (a signal that only counts trouble still has
# one, at 0, when the code exports it from the start). Even these may only read metrics some
# target declares (its HELP and TYPE are scraped while it has no series yet), so a misspelt
# or unexported name fails all the same.
MAY_BE_EMPTY: dict[str, str] = {
    # Prometheus writes ALERTS series only for alerts that are pending or firing, and none
    # fires on a healthy bus (most also wait a minute or more before they fire).
    "annotation 'dtmf-bus alerts firing'": "an alert-only signal",
    # dtmf_transfers_refused_total is labelled by the service that asked for the transfer,
    # so its first series is born with the first refusal: no service of this bus asks for a
    # transfer at all.
    "panel 'Buffered, unanswered and shed presses; undeliverable replies; refused transfers' "
    "target E": "no transfer was refused",
}

# rabbitmq_prometheus serves these on /metrics/per-object only from RabbitMQ 4.2 on: before
# that the alarm collector is in the aggregated registry alone (served on /metrics), and
# rabbitmq_queue_info does not exist. Against an older broker a query reading them can only
# be empty (the alarm names are then checked on /metrics); from 4.2 on it must have data.
PER_OBJECT_SINCE: dict[str, tuple[tuple[int, int], str | None]] = {
    "rabbitmq_alarms_memory_used_watermark": ((4, 2), "/metrics"),
    "rabbitmq_alarms_free_disk_space_watermark": ((4, 2), "/metrics"),
    "rabbitmq_queue_info": ((4, 2), None),
}

LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.*),)?\s*(?P<label>\w+)\s*\)$", re.S)
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


@dataclass(frozen=True)
class Query:
    where: str
    expr: str
    instant: bool


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every panel target and annotation query."""
    queries = [
        Query(
            f"panel {panel.get('title')!r} target {target.get('refId')}",
            target["expr"],
            bool(target.get("instant")) and not target.get("range"),
        )
        for panel in all_panels(dashboard["panels"])
        for target in panel.get("targets", [])
        if "expr" in target
    ]
    queries += [
        Query(f"annotation {a.get('name')!r}", a["expr"], False)
        for a in dashboard.get("annotations", {}).get("list", [])
        if "expr" in a
    ]
    return queries


def regex_escape(value: str) -> str:
    """A label value as a regex in a PromQL string, as Grafana escapes a multi-value variable."""
    return re.sub(r"([\\$^*+?.()|{}\[\]'])", r"\\\\\1", value)


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        assert name in values, f"no value for ${name} in {expr!r}"
        return values[name]

    return VARIABLE.sub(one, expr)


async def resolve_variables(bus: Bus, dashboard: dict[str, Any]) -> dict[str, str]:
    """Each variable's value for the default selection, in dashboard order (a variable's
    query may use the ones before it): a query variable with "All" selected becomes its
    allValue, or, without one, the regex of every value its `label_values` query finds."""
    end = time.time()
    values = {
        "__interval": f"{SCRAPE_INTERVAL_S}s",
        "__rate_interval": RATE_INTERVAL,
        "__range": f"{int(end - bus.started) + 1}s",
    }
    for variable in dashboard["templating"]["list"]:
        name, kind = variable["name"], variable["type"]
        if kind == "datasource":
            continue  # chooses where queries go, appears in none
        assert kind == "query", f"variable {name}: type {kind!r} unknown to this test"
        definition = variable["query"]
        if isinstance(definition, dict):
            definition = definition["query"]
        parsed = LABEL_VALUES.match(definition.strip())
        assert parsed, f"variable {name}: {definition!r} is not label_values(...)"
        params = {"start": str(bus.started), "end": str(end)}
        if parsed["selector"]:
            params["match[]"] = substitute(parsed["selector"].strip(), values)
        body = await api(
            bus.http, bus.prometheus, f"/api/v1/label/{parsed['label']}/values", params
        )
        assert body.get("status") == "success", f"variable {name}: {body}"
        found: list[str] = body["data"]
        # Outside Kubernetes no series has a namespace: its "All" (.*) matches them anyway.
        assert found or parsed["label"] == "namespace", (
            f"variable {name}: {definition!r} finds nothing"
        )
        if variable.get("includeAll") and variable.get("allValue"):
            values[name] = variable["allValue"]
            continue
        if variable.get("includeAll") or variable.get("multi"):
            escaped = [regex_escape(v) for v in found]
            values[name] = escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"
        else:
            values[name] = found[0]
    return values


async def evaluate(bus: Bus, query: Query, values: dict[str, str]) -> dict[str, Any]:
    promql = substitute(query.expr, values)
    if query.instant:
        return await api(bus.http, bus.prometheus, "/api/v1/query", {"query": promql})
    params = {
        "query": promql,
        "start": str(bus.started),
        "end": str(time.time()),
        "step": f"{SCRAPE_INTERVAL_S}s",
    }
    return await api(bus.http, bus.prometheus, "/api/v1/query_range", params)


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(?:dtmf|rabbitmq)_[a-z0-9_]+\b", expr))


def version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


async def declared_metrics(bus: Bus) -> set[str]:
    """The metric names the scraped targets declare, series or not: each family's name and
    its series' names (an OpenMetrics counter family is named without its _total)."""
    body = await api(bus.http, bus.prometheus, "/api/v1/targets/metadata", {})
    assert body.get("status") == "success", body
    families = {entry["metric"] for entry in body["data"]}
    suffixes = ("", "_total", "_bucket", "_count", "_sum")
    return {family + suffix for family in families for suffix in suffixes}


async def broker_serves(bus: Bus, path: str, metric: str) -> bool:
    async with bus.http.get(f"http://{bus.broker}{path}") as response:
        text = await response.text()
    return re.search(rf"^{metric}[{{ ]", text, re.M) is not None


@pytest.fixture
def metrics_broker() -> Iterator[PrivateBroker]:
    """A RabbitMQ node of this test's own, serving rabbitmq_prometheus on a free port."""
    node = PrivateBroker(plugins=["rabbitmq_prometheus"])
    try:
        node.start()  # fails (never skips) without rabbitmq-server or the plugin
        yield node
    finally:
        node.remove()


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_every_dashboard_query_returns_data_after_a_call(
    metrics_broker: PrivateBroker, tmp_path: Path
) -> None:
    dashboard = load_dashboard()
    queries = dashboard_queries(dashboard)
    assert set(MAY_BE_EMPTY) <= {q.where for q in queries}, "MAY_BE_EMPTY names no query"

    async with running_bus(
        metrics_broker.url, tmp_path, broker=metrics_broker.prometheus_target
    ) as bus:
        said = await bus.press(KEYS)
        assert said[0] == "Routing you to Sales...", said
        await bus.scraped(presses=len(KEYS))

        async def every_target_scraped_a_few_times() -> bool:
            # rate() and increase() need two samples in their window
            body = await api(
                bus.http, bus.prometheus, "/api/v1/query", {"query": "count_over_time(up[1m])"}
            )
            counts = [float(s["value"][1]) for s in body["data"]["result"]]
            return len(counts) == bus.targets + 1 and min(counts) >= 3

        await eventually(every_target_scraped_a_few_times, timeout=30)

        build = await api(
            bus.http,
            bus.prometheus,
            "/api/v1/query",
            {"query": 'rabbitmq_build_info{job="rabbitmq"}'},
        )
        [info] = build["data"]["result"]
        broker_version = version(info["metric"]["rabbitmq_version"])

        values = await resolve_variables(bus, dashboard)
        failures: list[str] = []
        empty: list[str] = []
        for query in queries:
            body = await evaluate(bus, query, values)
            if body.get("status") != "success":
                failures.append(f"{query.where}: {body.get('error')}\n    {query.expr}")
                continue
            if body["data"]["result"]:
                continue
            empty.append(query.where)
            names = metric_names(query.expr)
            newer = {
                name: since
                for name in names
                if (since := PER_OBJECT_SINCE.get(name)) and broker_version < since[0]
            }
            if not newer and query.where not in MAY_BE_EMPTY:
                failures.append(f"{query.where}: no series\n    {substitute(query.expr, values)}")
                continue
            if undeclared := names - set(newer) - await declared_metrics(bus):
                failures.append(f"{query.where}: no target declares {sorted(undeclared)}")
            for name, (_, elsewhere) in newer.items():
                if elsewhere and not await broker_serves(bus, elsewhere, name):
                    failures.append(f"{query.where}: the broker serves no {name} on {elsewhere}")
        assert not failures, (
            f"{len(failures)} of {len(queries)} dashboard queries failed "
            f"(RabbitMQ {info['metric']['rabbitmq_version']}, variables {values}):\n"
            + "\n".join(failures)
        )
        print(f"{len(queries)} queries evaluated; empty, as allowed: {empty}")
        await bus.hang_up()
