"""Snowflake loads on fakesnow: chunked JSON payloads in one transaction, awkward text intact."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

import nephos.warehouse.snowflake as snowflake_backend
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    Event,
    EventKind,
    MetricPoint,
    Severity,
    to_dict,
)
from tests.warehouse_fixtures import fakesnow_warehouse

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _metrics(count: int) -> list[Event]:
    return [
        Event(n + 1, EventKind.METRIC, T0, to_dict(MetricPoint("vm", "cpu_percent", "percent",
                                                               T0 + timedelta(minutes=n), n / 7)))
        for n in range(count)
    ]  # fmt: skip


def test_a_batch_larger_than_one_payload_loads_in_several_statements_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snowflake_backend, "_PAYLOAD_CHARS", 600)
    with fakesnow_warehouse() as wh:
        assert asyncio.run(wh.load_events(_metrics(40))) == 40
        assert asyncio.run(wh.load_events(_metrics(45))) == 5
        rows = asyncio.run(wh.execute("SELECT COUNT(*), SUM(value) FROM metrics"))
    assert rows[0][0] == 45
    assert rows[0][1] == pytest.approx(sum(n / 7 for n in range(45)))


def test_quotes_newlines_backslashes_and_unicode_survive_the_load() -> None:
    text = 'he said "down"\nthen \\ left ✕ 日本 \u2028 end'
    alert = Alert(
        id="al-x", dedup_key="k", target="api", source=AlertSource.SENTINEL,
        state=AlertState.FIRING, severity=Severity.WARNING, title=text, message=text,
        started_at=T0, updated_at=T0, facts={"text": text},
    )  # fmt: skip
    with fakesnow_warehouse() as wh:
        asyncio.run(wh.load_events([Event(1, EventKind.ALERT, T0, to_dict(alert))]))
        rows = asyncio.run(wh.execute("SELECT title, message, facts:text::VARCHAR FROM alerts"))
    assert rows == [(text, text, text)]
