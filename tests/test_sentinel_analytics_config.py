"""The ``analytics`` and ``etl`` config sections, and retention while the sentinel runs an ETL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.config.loader import parse_config
from nephos.config.types import AnalyticsConfig, EtlConfig
from nephos.errors import ConfigError
from nephos.model import AlertRule, CheckKind, CheckResult, Health
from nephos.sentinel.analytics_alerts import analytics_notify
from nephos.sentinel.services import purge_once
from nephos.store.sqlite import SqliteHotStore

NOTIFIERS = "notifiers:\n  ops:\n    type: log\n  pager:\n    type: log\n"


def test_without_the_sections_analytics_run_with_defaults_and_no_etl() -> None:
    config = parse_config("targets: []\n", file="nephos.yaml", env={})
    assert config.analytics == AnalyticsConfig()
    assert config.analytics.forecast_interval == timedelta(hours=12)
    assert config.etl == EtlConfig(enabled=False)


def test_the_sections_are_read_with_their_durations_notifiers_and_thresholds() -> None:
    text = NOTIFIERS + (
        "analytics:\n"
        "  forecast-interval: 6h\n"
        "  horizon: 24h\n"
        "  notify: [pager]\n"
        "  thresholds: {disk_percent: 85, latency_ms: 800}\n"
        "etl:\n"
        "  batch_size: 100\n"
        "  max_batch_age: 2s\n"
    )
    config = parse_config(text, file="nephos.yaml", env={})
    assert config.analytics.forecast_interval == timedelta(hours=6)
    assert config.analytics.horizon == timedelta(hours=24)
    assert config.analytics.notify == ("pager",)
    assert config.analytics.thresholds == {"disk_percent": 85.0, "latency_ms": 800.0}
    assert config.etl == EtlConfig(enabled=True, batch_size=100, max_batch_age=timedelta(seconds=2))


def test_an_etl_section_without_keys_runs_the_etl_with_defaults() -> None:
    config = parse_config("etl:\n", file="nephos.yaml", env={})
    assert config.etl == EtlConfig(enabled=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "analytics:\n  notify: [opz]\n",
            'nephos.yaml:7: analytics.notify[0]: unknown notifier "opz" (did you mean ops?',
        ),
        (
            "analytics:\n  horizon: 10m\n",
            'nephos.yaml:7: analytics.horizon: "10m" is too short (minimum 1h)',
        ),
        (
            "analytics:\n  thresholds:\n    disk_percent: lots\n",
            'nephos.yaml:8: analytics.thresholds.disk_percent: expected a number, got "lots"',
        ),
        ("etl:\n  batchsize: 10\n", "nephos.yaml:7: etl.batchsize: unknown key (did you mean"),
        ("etl:\n  batch_size: 0\n", "nephos.yaml:7: etl.batch_size:"),
    ],
)
def test_a_bad_value_names_the_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(NOTIFIERS + text, file="nephos.yaml", env={})
    assert str(caught.value).startswith(message)


def test_analytics_alerts_go_to_the_sentinel_alert_notifiers_unless_named() -> None:
    config = parse_config(NOTIFIERS, file="nephos.yaml", env={})
    rules = (AlertRule(notify=("pager", "ops")), AlertRule(notify=("ops",)))
    ruled = type(config)(
        notifiers=config.notifiers,
        sentinel=type(config.sentinel)(default_alerts=rules),
    )
    named = type(config)(notifiers=config.notifiers, analytics=AnalyticsConfig(notify=("ops",)))
    assert analytics_notify(ruled) == ("pager", "ops")
    assert analytics_notify(named) == ("ops",)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=clock)
    await hot.open()
    yield hot
    await hot.close()


async def test_retention_keeps_unloaded_events_when_the_sentinel_runs_an_etl_that_never_checkpointed(  # noqa: E501
    store: SqliteHotStore, clock: ManualClock
) -> None:
    old = CheckResult(
        target="api",
        kind=CheckKind.HTTP,
        ts=clock.now(),
        health=Health.HEALTHY,
        latency_ms=5.0,
        success=True,
    )
    await store.put_results([old])
    clock.advance(timedelta(days=10))
    with_etl = await purge_once(store, timedelta(days=7), clock=clock, etl=True)
    events_kept = len(await store.changes(0))
    without = await purge_once(store, timedelta(days=7), clock=clock)
    assert (with_etl.checkpoint, with_etl.kept_unloaded, events_kept) == (0, 1, 1)
    assert without.checkpoint is None
    assert await store.changes(0) == []
