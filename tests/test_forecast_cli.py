"""``nephos predict`` over a real SQLite hot store: table, JSON, the empty case, bad flags."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from nephos.cli.main import main
from nephos.config.types import HotStoreConfig
from nephos.model import MetricPoint
from nephos.store import open_hot_store


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "nephos.yaml"
    config.write_text(
        "storage:\n"
        f"  hot: {{path: {tmp_path / 'hot.db'}}}\n"
        f"  warehouse: {{path: {tmp_path / 'none.duckdb'}}}\n"
    )
    return config


def seed(tmp_path: Path, *, per_hour: float) -> None:
    """Three days of 5-minute disk points on two instances, one filling at ``per_hour``."""
    now = datetime.now(UTC)
    rng = np.random.default_rng(9)
    points = []
    for minutes in range(0, 72 * 60, 5):
        ts = now - timedelta(minutes=72 * 60 - minutes)
        filled = 60.0 + per_hour * minutes / 60 + rng.normal(0, 0.2)
        points.append(MetricPoint("db-1", "disk_percent", "percent", ts, filled, "aws"))
        points.append(MetricPoint("web-1", "disk_percent", "percent", ts, 40.0, "aws"))

    async def put() -> None:
        store = open_hot_store(HotStoreConfig(path=str(tmp_path / "hot.db")))
        await store.open()
        try:
            await store.put_metrics(points)
        finally:
            await store.close()

    asyncio.run(put())


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_predict_json_reports_a_filling_disk_with_its_interval_and_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    seed(tmp_path, per_hour=0.3)  # 81.6% now: 90% in about 28 hours
    code, out, _ = run(["predict", "--json", "-c", str(config)], capsys)
    assert code == 0
    document = json.loads(out)
    assert document["horizon_hours"] == 48.0 and document["window_hours"] == 72.0
    [forecast] = document["forecasts"]
    assert (forecast["resource"], forecast["metric"]) == ("db-1", "disk_percent")
    assert forecast["hours_to_threshold"] == pytest.approx(28.0, abs=1.5)
    assert forecast["earliest_hours"] <= forecast["hours_to_threshold"]
    assert forecast["hours_to_threshold"] <= forecast["latest_hours"]
    assert forecast["method"] == "linear" and forecast["r2"] > 0.9
    assert forecast["crosses_at"].endswith("Z")


def test_predict_prints_a_table_of_what_crosses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    seed(tmp_path, per_hour=0.3)
    code, out, _ = run(["predict", "-c", str(config), "--source", "store"], capsys)
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split() == [
        "metric", "resource", "current", "threshold", "crosses", "in", "interval", "fit", "method",
    ]  # fmt: skip
    assert row.split()[:2] == ["disk", "db-1"]
    assert "90%" in row and "R²" in row and "linear" in row
    assert "web-1" not in out


def test_predict_says_so_when_nothing_is_on_course(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    seed(tmp_path, per_hour=0.0)
    code, out, _ = run(["predict", "-c", str(config), "--horizon", "12h"], capsys)
    assert code == 0
    assert out.strip() == "no capacity metric is on course to cross its threshold within 12h"


def test_a_longer_horizon_reports_a_slower_fill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    seed(tmp_path, per_hour=0.1)  # 67.2% now: 90% in about 228 hours
    _, out, _ = run(["predict", "--json", "-c", str(config)], capsys)
    assert json.loads(out)["forecasts"] == []
    _, out, _ = run(["predict", "--json", "-c", str(config), "--horizon", "12d"], capsys)
    [forecast] = json.loads(out)["forecasts"]
    assert forecast["hours_to_threshold"] == pytest.approx(228.0, rel=0.05)


@pytest.mark.parametrize("flag", ["--horizon", "--window"])
def test_a_bad_duration_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    code, _, err = run(["predict", "-c", str(write_config(tmp_path)), flag, "soon"], capsys)
    assert code == 3
    assert err.startswith(f"nephos: {flag}: ")


def test_a_missing_hot_store_exits_4_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["predict", "-c", str(write_config(tmp_path))], capsys)
    assert code == 4
    assert len(err.strip().splitlines()) == 1 and "no hot store" in err


def test_predict_reads_the_warehouse_when_it_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nephos.warehouse.duckdb import DuckDBWarehouse

    config = tmp_path / "nephos.yaml"
    config.write_text(f"storage:\n  warehouse: {{path: {tmp_path / 'wh.duckdb'}}}\n")
    now = datetime.now(UTC)
    points = [
        MetricPoint("db-9", "mem_percent", "percent", now - timedelta(minutes=m), 90 - m / 100)
        for m in range(72 * 60, 0, -10)
    ]  # 89.9% and rising 0.6 an hour: 90% within the hour

    async def load() -> None:
        warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb")
        await warehouse.open()
        try:
            await warehouse.load_metrics(points)
        finally:
            await warehouse.close()

    asyncio.run(load())
    code, out, _ = run(["predict", "--json", "-c", str(config)], capsys)
    assert code == 0
    [forecast] = json.loads(out)["forecasts"]
    assert (forecast["resource"], forecast["metric"]) == ("db-9", "mem_percent")
    assert forecast["hours_to_threshold"] < 1.0
