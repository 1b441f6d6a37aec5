"""A real Prometheus scrapes the running processes; the press-to-reply histogram is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.prometheus_stack import eventually, query, running_bus


@pytest.mark.e2e
@pytest.mark.timeout(180)
async def test_prometheus_scrapes_the_press_to_reply_histogram(
    amqp_url: str, tmp_path: Path
) -> None:
    async with running_bus(amqp_url, tmp_path) as bus:
        said = await bus.press("192")
        assert said[0] == "Routing you to Sales..."
        await bus.scraped(presses=3)
        http, prom = bus.http, bus.prometheus

        buckets = await query(http, prom, "dtmf_press_to_reply_seconds_bucket")
        assert {float(b["metric"]["le"]) for b in buckets} >= {0.005, 0.01, 0.05, 0.1, 0.25, 1.0}
        p99 = await query(
            http, prom, "histogram_quantile(0.99, sum by (le) (dtmf_press_to_reply_seconds_bucket))"
        )
        assert 0 < float(p99[0]["value"][1]) <= 5
        replied = await query(
            http, prom, 'dtmf_messages_handled_total{service="sales",outcome="replied"}'
        )
        assert float(replied[0]["value"][1]) == 1

        async def rules_evaluated() -> bool:
            async with http.get(f"{prom}/api/v1/rules") as response:
                groups = (await response.json())["data"]["groups"]
            health = {r["health"] for g in groups for r in g["rules"]}
            assert "err" not in health, groups
            return bool(groups) and health == {"ok"}

        await eventually(rules_evaluated, timeout=30)
        await bus.hang_up()
