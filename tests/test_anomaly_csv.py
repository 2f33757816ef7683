"""``nephos anomalies score``: any timestamp,value CSV in, a causal anomaly score out."""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nephos.analytics.anomaly_csv import parse_timestamp, read_points
from nephos.cli.main import main
from nephos.errors import UsageError

START = datetime(2026, 1, 5, tzinfo=UTC)


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "timestamp,value") -> Path:
    path.write_text(header + "\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


def irregular_rows(spike_at: int | None = None) -> list[tuple[str, str]]:
    rng = random.Random(5)
    rows = []
    ts = START
    for i in range(1500):
        value = 97.0 if i == spike_at else 25 + rng.gauss(0, 2)
        text = ts.isoformat().replace("+00:00", "Z") if i % 2 else str(int(ts.timestamp()))
        rows.append((text, f"{value:.2f}"))
        ts += timedelta(seconds=rng.uniform(60, 300))
    return rows


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return int(exit_info.value.code or 0)


def scores(path: Path) -> list[float]:
    with path.open() as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["timestamp", "value", "anomaly_score"]
        return [float(row["anomaly_score"]) for row in reader]


def test_score_writes_one_score_in_0_1_per_row_and_flags_the_spike(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "in.csv", irregular_rows(spike_at=1400))
    out = tmp_path / "out.csv"
    assert run_cli(["anomalies", "score", str(src), "--output", str(out)]) == 0
    got = scores(out)
    assert len(got) == 1500
    assert all(0.0 <= s <= 1.0 for s in got)
    assert got[1400] > 0.9
    assert max(got[:1400] + got[1401:]) < 0.9


def test_score_keeps_the_input_timestamps_and_values_as_written(tmp_path: Path) -> None:
    rows = irregular_rows()[:20]
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    assert run_cli(["anomalies", "score", str(src), "-o", str(out)]) == 0
    with out.open() as handle:
        written = [(r["timestamp"], r["value"]) for r in csv.DictReader(handle)]
    assert written == rows


def test_score_is_causal_a_longer_file_leaves_earlier_scores_unchanged(tmp_path: Path) -> None:
    rows = irregular_rows(spike_at=1000)
    short = write_csv(tmp_path / "short.csv", rows[:1100])
    full = write_csv(tmp_path / "full.csv", rows)
    for src in (short, full):
        assert run_cli(["anomalies", "score", str(src), "-o", str(src) + ".out"]) == 0
    assert scores(Path(str(full) + ".out"))[:1100] == scores(Path(str(short) + ".out"))


def test_score_to_standard_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_csv(tmp_path / "in.csv", [("1767571200", "1"), ("1767571260", "2")])
    assert run_cli(["anomalies", "score", str(src)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "timestamp,value,anomaly_score",
        "1767571200,1,0.0000",
        "1767571260,2,0.0000",
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [("2026-01-05T00:00:00Z", "1"), ("yesterday", "2")],
            "in.csv:3: 'yesterday' is not a timestamp",
        ),
        (
            [("2026-01-05T00:00:00Z", "1"), ("2026-01-05T00:01:00Z", "n/a")],
            "in.csv:3: 'n/a' is not a number",
        ),
        (
            [("2026-01-05T00:01:00Z", "1"), ("2026-01-05T00:00:00Z", "2")],
            "in.csv:3: timestamps must increase",
        ),
        ([("2026-01-05T00:00:00Z", "inf")], "in.csv:2: 'inf' is not a finite number"),
    ],
)
def test_a_bad_row_is_one_line_naming_the_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[tuple[str, str]], message: str
) -> None:
    src = write_csv(tmp_path / "in.csv", rows)
    assert run_cli(["anomalies", "score", str(src)]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err


def test_a_missing_file_or_column_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["anomalies", "score", str(tmp_path / "nope.csv")]) == 3
    assert "nope.csv: cannot read" in capsys.readouterr().err
    one_column = tmp_path / "one.csv"
    one_column.write_text("timestamp\n2026-01-05T00:00:00Z\n")
    with pytest.raises(UsageError, match=r"one\.csv:1"):
        read_points(one_column)


def test_a_file_without_a_header_row_says_so(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("2026-01-05T00:00:00Z,1\n2026-01-05T00:01:00Z,2\n")
    with pytest.raises(UsageError, match=r"in\.csv:1: expected a header row"):
        read_points(src)


def test_short_rows_name_their_line(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("timestamp,value\n2026-01-05T00:00:00Z,1\n2026-01-05T00:01:00Z\n")
    with pytest.raises(UsageError, match=r"in.csv:3: expected 2 columns, got 1"):
        read_points(src)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05T00:00:00Z", START),
        ("2026-01-05T01:00:00+01:00", START),
        ("2026-01-05 00:00:00", START),
        ("1767571200", START),
        ("1767571200000", START),
        ("1767571200.5", START + timedelta(milliseconds=500)),
    ],
)
def test_timestamps_are_iso_or_epoch_seconds_or_milliseconds(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_nan_timestamp_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_timestamp("nan")
    assert math.isfinite(parse_timestamp("0").timestamp())
