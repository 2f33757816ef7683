"""The Warehouse contract: every backend (DuckDB file, Snowflake on fakesnow) passes these."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nephos.errors import WarehouseError
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Event,
    EventKind,
    Health,
    Instance,
    InstanceState,
    MetricPoint,
    Severity,
    TlsInfo,
    to_dict,
)
from nephos.warehouse.base import Warehouse
from tests.warehouse_fixtures import duckdb_warehouse, fakesnow_warehouse

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["duckdb", "snowflake"])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "duckdb":
        with duckdb_warehouse(tmp_path / "wh.duckdb") as opened:
            yield opened
    else:
        with fakesnow_warehouse() as fake:
            yield fake


def _result(n: int) -> CheckResult:
    return CheckResult(
        target="api",
        kind=CheckKind.HTTP,
        ts=T0 + timedelta(minutes=n),
        health=Health.DEGRADED,
        latency_ms=1234.5,
        success=True,
        provider="aws",
        region="us-east-1",
        status_code=200,
        reason="slow: 1234 ms",
        tls=TlsInfo(leaf_not_after=T0 + timedelta(days=30)),
    )


def _alert() -> Alert:
    return Alert(
        id="al-7f3k2q",
        dedup_key="api:[STATUS] == 200",
        target="api",
        source=AlertSource.SENTINEL,
        state=AlertState.FIRING,
        severity=Severity.CRITICAL,
        title="api is down",
        message='503 from https://api.example.com/health: "Service\nUnavailable" \\ ✕ 日本',
        started_at=T0,
        updated_at=T0 + timedelta(minutes=1),
        condition="[STATUS] == 200",
        value="503",
        facts={"observed": 503, "nested": {"ok": False}},
        version=2,
    )


def _instance() -> Instance:
    return Instance(
        provider="vultr",
        id="v-1",
        name="db-1",
        state=InstanceState.RUNNING,
        raw_state="active",
        region="ewr",
        vcpus=4,
        memory_mb=8192,
        tags={"role": "db", "team": "ops"},
        created_at=T0 - timedelta(days=3),
    )


def _metric(n: int, value: float = 42.5) -> MetricPoint:
    return MetricPoint("vm-1", "cpu", "pct", T0 + timedelta(minutes=n), value, "aws")


def _events() -> list[Event]:
    entities: list[tuple[EventKind, Any]] = [
        (EventKind.CHECK, _result(0)),
        (EventKind.METRIC, _metric(0)),
        (EventKind.METRIC, _metric(1, 43.25)),
        (EventKind.ALERT, _alert()),
        (EventKind.INSTANCE, _instance()),
    ]
    return [
        Event(seq=10 + n, kind=kind, ts=T0 + timedelta(seconds=n), data=to_dict(entity))
        for n, (kind, entity) in enumerate(entities)
    ]


async def _count(wh: Warehouse, table: str) -> int:
    rows = await wh.execute(f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


async def test_load_routes_every_kind_into_its_typed_history_table(wh: Warehouse) -> None:
    assert await wh.load_events(_events()) == 5
    tables = ("events", "results", "metrics", "alerts", "instances")
    assert [await _count(wh, t) for t in tables] == [5, 1, 2, 1, 1]
    (result,) = await wh.execute(
        "SELECT seq, ts, target, health, latency_ms, success, status_code, cert_not_after "
        "FROM results"
    )
    assert result == (
        10, datetime(2026, 11, 20, 12, 0), "api", "degraded", 1234.5, True, 200,
        datetime(2026, 12, 20, 12, 0),
    )  # fmt: skip
    metrics = await wh.execute(
        "SELECT seq, instance, metric, unit, value FROM metrics ORDER BY seq"
    )
    assert metrics == [(11, "vm-1", "cpu", "pct", 42.5), (12, "vm-1", "cpu", "pct", 43.25)]
    (alert,) = await wh.execute(
        "SELECT id, state, severity, version, facts:observed::INT, started_at FROM alerts"
    )
    assert alert == ("al-7f3k2q", "firing", "critical", 2, 503, datetime(2026, 11, 20, 12, 0))
    (instance,) = await wh.execute(
        "SELECT provider, instance_id, state, vcpus, tags:role::VARCHAR FROM instances"
    )
    assert instance == ("vultr", "v-1", "running", 4, "db")


async def test_events_keep_the_raw_json_of_each_entity(wh: Warehouse) -> None:
    events = _events()
    await wh.load_events(events)
    rows = await wh.execute("SELECT seq, kind, data FROM events ORDER BY seq")
    assert [(seq, kind) for seq, kind, _ in rows] == [(e.seq, e.kind.value) for e in events]
    assert [json.loads(data) for _, _, data in rows] == [dict(e.data) for e in events]


async def test_reloading_a_batch_adds_nothing(wh: Warehouse) -> None:
    events = _events()
    await wh.load_events(events)
    assert await wh.load_events(events) == 0
    assert await wh.load_events(list(reversed(events))) == 0
    assert await _count(wh, "events") == 5
    assert await _count(wh, "metrics") == 2


async def test_an_overlapping_batch_loads_only_the_new_events_and_repeats_once(
    wh: Warehouse,
) -> None:
    events = _events()
    await wh.load_events(events[:3])
    extra = Event(seq=99, kind=EventKind.METRIC, ts=T0, data=to_dict(_metric(9)))
    assert await wh.load_events([*events, extra, extra]) == 3
    assert await _count(wh, "events") == 6
    assert await _count(wh, "metrics") == 3


async def test_a_failed_load_writes_nothing_of_its_batch(wh: Warehouse) -> None:
    await wh.execute("DROP TABLE instances")
    with pytest.raises(WarehouseError):
        await wh.load_events(_events())
    assert await _count(wh, "events") == 0
    assert await _count(wh, "metrics") == 0


async def test_an_event_that_cannot_be_typed_fails_the_load_with_a_warehouse_error(
    wh: Warehouse,
) -> None:
    bad = Event(seq=1, kind=EventKind.METRIC, ts=T0, data={**to_dict(_metric(0)), "value": "x"})
    with pytest.raises(WarehouseError, match="cannot be typed"):
        await wh.load_events([bad])
    assert await _count(wh, "events") == 0


async def test_checkpoints_start_at_zero_and_keep_the_last_value_per_name(wh: Warehouse) -> None:
    assert await wh.get_checkpoint("etl") == 0
    await wh.set_checkpoint("etl", 41)
    await wh.set_checkpoint("etl", 42)
    await wh.set_checkpoint("backfill", 7)
    assert await wh.get_checkpoint("etl") == 42
    assert await wh.get_checkpoint("backfill") == 7
    assert await _count(wh, "etl_checkpoints") == 2


async def test_a_named_statement_runs_with_bound_params_and_gives_plain_rows(
    wh: Warehouse,
) -> None:
    await wh.load_events(_events())
    rows = await wh.query("metric_series", {"since": T0 - timedelta(hours=1)})
    assert rows == [
        {
            "instance": "vm-1",
            "metric": "cpu",
            "unit": "pct",
            "provider": "aws",
            "points": 2,
            "first_ts": T0,
            "last_ts": T0 + timedelta(minutes=1),
            "last_value": 43.25,
            "mean_value": pytest.approx(42.875),
        }
    ]
    assert await wh.query("metric_series", {"since": T0 + timedelta(hours=1)}) == []


async def test_a_named_statement_needs_exactly_its_params(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="no value for :since"):
        await wh.query("metric_series", {})
    with pytest.raises(WarehouseError, match="has no bind :sinse"):
        await wh.query("metric_series", {"since": T0, "sinse": T0})


async def test_an_unknown_statement_names_the_known_ones(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match=r"unknown analytics statement 'nope'.*metric_series"):
        await wh.query("nope")


async def test_execute_binds_qmark_params_and_returns_tuples(wh: Warehouse) -> None:
    await wh.load_events(_events())
    rows = await wh.execute(
        "SELECT seq FROM metrics WHERE instance = ? AND value > ? ORDER BY seq", ("vm-1", 43.0)
    )
    assert rows == [(12,)]
    assert await wh.execute("SELECT IFF(? > 1, 'big', 'small')", (5,)) == [("big",)]


async def test_driver_errors_become_warehouse_errors(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match=r"(?i)no_such_table"):
        await wh.execute("SELECT * FROM no_such_table")


async def test_bulk_metrics_load_appends_points_without_a_seq(wh: Warehouse) -> None:
    points = [_metric(n, float(n)) for n in range(500)]
    assert await wh.load_metrics(points) == 500
    rows = await wh.execute("SELECT COUNT(*), COUNT(seq), SUM(value), MAX(ts) FROM metrics")
    assert rows == [(500, 0, float(sum(range(500))), datetime(2026, 11, 20, 20, 19))]


async def test_a_closed_warehouse_refuses_work_and_closes_twice(wh: Warehouse) -> None:
    await wh.close()
    await wh.close()
    with pytest.raises(WarehouseError, match="not open"):
        await wh.get_checkpoint("etl")


def test_alert_versions_are_history_rows(tmp_path: Path) -> None:
    """Each stored version of an alert is its own row (the alert book's history)."""
    import asyncio

    first = _alert()
    later = dataclasses.replace(first, state=AlertState.RESOLVED, version=3)
    events = [
        Event(seq=1, kind=EventKind.ALERT, ts=T0, data=to_dict(first)),
        Event(seq=2, kind=EventKind.ALERT, ts=T0, data=to_dict(later)),
    ]
    with duckdb_warehouse(tmp_path / "wh.duckdb") as wh:
        asyncio.run(wh.load_events(events))
        rows = asyncio.run(wh.execute("SELECT version, state FROM alerts ORDER BY version"))
    assert rows == [(2, "firing"), (3, "resolved")]
