"""Events flattened into history rows: columns as the DDL declares them, times as naive UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from nephos.model import (
    CheckKind,
    CheckResult,
    Event,
    EventKind,
    Health,
    MetricPoint,
    to_dict,
)
from nephos.warehouse.rows import JSON_COLUMNS, TABLE_COLUMNS, flatten, metric_columns
from nephos.warehouse.sql_loader import SqlLibrary


def test_the_load_columns_are_the_ddl_columns_in_order() -> None:
    ddl = SqlLibrary().column_types()
    for table, columns in TABLE_COLUMNS.items():
        assert tuple(ddl[table]) == columns, table
    for table, columns in JSON_COLUMNS.items():
        assert all(ddl[table][c] == "VARIANT" for c in columns), table


def test_a_check_result_becomes_one_results_row_and_one_events_row() -> None:
    local = timezone(timedelta(hours=2))
    result = CheckResult(
        "api", CheckKind.TCP, datetime(2026, 1, 1, 14, 0, tzinfo=local), Health.UNHEALTHY,
        3001.0, False, error="connection refused",
    )  # fmt: skip
    event = Event(7, EventKind.CHECK, datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC), to_dict(result))
    tables = flatten([event])
    assert set(tables) == {"results", "events"}
    row = dict(zip(TABLE_COLUMNS["results"], tables["results"][0], strict=True))
    assert row["ts"] == datetime(2026, 1, 1, 12, 0)  # the check's own time, in UTC
    assert (row["health"], row["success"], row["error"]) == (
        "unhealthy",
        False,
        "connection refused",
    )
    seq, kind, ts, data = tables["events"][0]
    assert (seq, kind, ts) == (7, "check", datetime(2026, 1, 1, 12, 0, 1))
    assert json.loads(data) == to_dict(result)


def test_missing_optional_fields_become_nulls_not_errors() -> None:
    event = Event(1, EventKind.METRIC, datetime(2026, 1, 1, tzinfo=UTC), {"instance": "i"})
    row = flatten([event])["metrics"][0]
    assert row == (1, datetime(2026, 1, 1), "i", "", None, None, None)


def test_bulk_metric_columns_share_converted_timestamps() -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    points = [MetricPoint("vm", "cpu_percent", "percent", ts, float(n)) for n in range(3)]
    columns = metric_columns(points)
    assert columns["seq"] == [None, None, None]
    assert columns["ts"][0] is columns["ts"][2]
    assert columns["value"] == [0.0, 1.0, 2.0]
