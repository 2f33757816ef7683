"""``nephos anomalies [--since] [--json]`` over a DuckDB warehouse named in a config file."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nephos.cli.main import main
from nephos.model import MetricPoint
from tests.warehouse_fixtures import duckdb_warehouse


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0)


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, datetime]:
    """A config whose warehouse holds 3 days of CPU ending now, with a spike 2 hours ago."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    spike = now - timedelta(hours=2)
    rng = random.Random(3)
    points = []
    for i in range(3 * 288):
        ts = now - timedelta(minutes=5 * i)
        value = 97.0 if spike <= ts < spike + timedelta(minutes=20) else 30 + rng.gauss(0, 2)
        points.append(MetricPoint("web-[1]", "cpu_utilization", "percent", ts, value, "aws"))
    with duckdb_warehouse(tmp_path / "wh.duckdb") as wh:
        asyncio.run(wh.load_metrics(sorted(points, key=lambda p: p.ts)))
    path = tmp_path / "nephos.yaml"
    path.write_text(
        "storage:\n"
        f"  hot: {{backend: sqlite, path: {tmp_path / 'hot.db'}}}\n"
        f"  warehouse: {{backend: duckdb, path: {tmp_path / 'wh.duckdb'}}}\n"
    )
    return path, spike


def test_json_lists_the_episode_with_its_evidence(
    config: tuple[Path, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    path, spike = config
    assert run_cli(["anomalies", "--since", "24h", "--json", "-c", str(path)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    row = rows[0]
    assert row["series"] == {
        "instance": "web-[1]",
        "metric": "cpu_utilization",
        "unit": "percent",
        "provider": "aws",
    }
    assert row["kind"] == "spike" and row["points"] == 4
    assert row["started_at"] == spike.isoformat().replace("+00:00", "Z")
    assert row["peak_value"] == 97.0 and row["deviation"] > 10
    assert 0 <= row["confidence"] <= 1


def test_the_table_prints_names_literally(
    config: tuple[Path, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = config
    assert run_cli(["anomalies", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert "web-[1]/cpu_utilization" in out
    assert "spike" in out and "✕ crit" in out


def test_a_window_without_anomalies_says_so(
    config: tuple[Path, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = config
    assert run_cli(["anomalies", "--since", "30m", "-c", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "no anomalies"


def test_a_bad_since_is_a_usage_error(
    config: tuple[Path, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = config
    assert run_cli(["anomalies", "--since", "soon", "-c", str(path)]) == 3
    assert "--since" in capsys.readouterr().err


def test_a_missing_duckdb_file_is_exit_4_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nephos.yaml"
    path.write_text(
        f"storage:\n  warehouse: {{backend: duckdb, path: {tmp_path / 'none.duckdb'}}}\n"
    )
    assert run_cli(["anomalies", "-c", str(path)]) == 4
    assert "none.duckdb" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()


def test_score_json_is_one_array_with_a_score_per_row_and_matches_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [f"{1_700_000_000 + 60 * i},{50 if i == 30 else 10 + i % 3}" for i in range(40)]
    data = tmp_path / "cpu.csv"
    data.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    assert run_cli(["anomalies", "score", str(data)]) == 0
    as_csv = capsys.readouterr().out.splitlines()[1:]
    assert run_cli(["anomalies", "score", "--json", str(data)]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert len(as_json) == 40
    assert as_json[0]["timestamp"] == "2023-11-14T22:13:20Z"
    assert [r["value"] for r in as_json[:2]] == [10.0, 11.0]
    assert [f"{r['anomaly_score']:.4f}" for r in as_json] == [r.split(",")[2] for r in as_csv]


def test_json_before_score_applies_to_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "cpu.csv"
    data.write_text("timestamp,value\n" + "".join(f"{60 * i},{i % 3}\n" for i in range(5)))
    assert run_cli(["anomalies", "--json", "score", str(data)]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 5
