"""Facts gathered from a hot store alone: forecasts counted from now, alerts as they stood at the
end of a past period."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from nephos.config.types import Config
from nephos.insights.gather import Sources, summary_facts
from nephos.model import Alert, AlertSource, AlertState, Severity
from nephos.store.sqlite import SqliteHotStore
from tests.insights_fixtures import NOW


def forecast_alert(alert_id: str, made_hours_ago: float, crosses_in: float) -> Alert:
    made = NOW - timedelta(hours=made_hours_ago)
    ahead = made_hours_ago + crosses_in
    return Alert(
        id=alert_id,
        dedup_key=f"forecast:{alert_id}:disk_percent",
        target=alert_id,
        source=AlertSource.FORECAST,
        state=AlertState.FIRING,
        severity=Severity.WARNING,
        title="disk fills",
        message="disk fills",
        started_at=made,
        updated_at=made,
        facts={
            "metric": "disk_percent", "resource": alert_id, "unit": "percent",
            "threshold": 90.0, "current": 80.0, "hours_to_threshold": ahead,
            "interval_hours": [ahead - 2, ahead + 2], "r2": 0.9, "method": "linear",
            "crosses_at": (NOW + timedelta(hours=crosses_in)).isoformat(),
        },
    )  # fmt: skip


async def test_forecasts_are_counted_from_now_and_stale_ones_left_out(tmp_path: Path) -> None:
    store = SqliteHotStore(str(tmp_path / "hot.db"))
    await store.open()
    await store.put_alert(forecast_alert("vm-a", made_hours_ago=4, crosses_in=10))
    await store.put_alert(forecast_alert("vm-b", made_hours_ago=30, crosses_in=-6))
    facts = await summary_facts(Sources(Config(), store, None), now=NOW, history=False)
    await store.close()
    assert [(f.resource, f.hours_to_threshold) for f in facts.forecasts] == [("vm-a", 10.0)]
    assert (facts.forecasts[0].earliest_hours, facts.forecasts[0].latest_hours) == (8.0, 12.0)
    assert {a.id for a in facts.alerts} == {"vm-a", "vm-b"}, "the stale one is still an alert"


async def test_a_past_period_sees_alerts_as_they_stood_at_its_end(tmp_path: Path) -> None:
    store = SqliteHotStore(str(tmp_path / "hot.db"))
    await store.open()
    alert = replace(
        forecast_alert("vm-c", 1, 5),
        source=AlertSource.SENTINEL,
        facts={},
        state=AlertState.RESOLVED,
        started_at=NOW - timedelta(hours=5),
        resolved_at=NOW - timedelta(hours=1),
    )
    await store.put_alert(alert)
    src = Sources(Config(), store, None)
    then = await summary_facts(src, now=NOW - timedelta(hours=2), history=False)
    now = await summary_facts(src, now=NOW, history=False)
    await store.close()
    assert [(a.id, a.state) for a in then.alerts] == [("vm-c", "firing")]
    assert now.alerts == ()
