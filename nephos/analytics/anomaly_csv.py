"""Score any ``timestamp,value`` CSV with the online detector, as production would see it.

Input: a header row, then one point per row; timestamps in ISO 8601 (``Z``, an offset, or
none for UTC) or epoch seconds (milliseconds when the number is that large); any interval,
regular or not, in increasing order. Output: ``timestamp,value,anomaly_score`` with the score
in [0, 1]. Row *i* is scored from rows 1..*i* only. A bad row is a UsageError naming the file
and line.
"""

from __future__ import annotations

import csv
import math
import pathlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from nephos.analytics.anomaly import DetectorSettings, SeriesKey
from nephos.analytics.anomaly_detector import OnlineDetector
from nephos.errors import UsageError

__all__ = ["CsvPoint", "parse_timestamp", "read_points", "score_points", "write_scores"]

_EPOCH_MS = 1e11  # epoch numbers above this are milliseconds (year 5138 in seconds)


@dataclass(frozen=True, slots=True)
class CsvPoint:
    """One row of an input CSV: its time, its value, the original text and extra columns."""

    line: int
    ts: datetime
    value: float
    ts_text: str
    value_text: str
    extra: tuple[str, ...] = ()


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp or epoch seconds/milliseconds as an aware UTC datetime.

    Raises:
        ValueError: ``text`` is neither.
    """
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a time")
    seconds = number / 1000.0 if abs(number) >= _EPOCH_MS else number
    return datetime.fromtimestamp(seconds, tz=UTC)


def _is_data(cells: list[str]) -> bool:
    if len(cells) < 2:
        return False
    try:
        parse_timestamp(cells[0])
        float(cells[1])
    except (ValueError, OverflowError, OSError):
        return False
    return True


def _rows(
    path: pathlib.Path, handle: IO[str], extra_columns: tuple[str, ...]
) -> Iterator[CsvPoint]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        raise UsageError(f"{path}: empty file (expected a timestamp,value header)")
    names = [h.strip().lower() for h in header]
    if _is_data(names):
        raise UsageError(f"{path}:1: expected a header row (timestamp,value), found data")
    if len(names) < 2:
        raise UsageError(f"{path}:1: expected a header with at least timestamp,value columns")
    missing = [c for c in extra_columns if c not in names]
    if missing:
        raise UsageError(f"{path}:1: missing column(s) {', '.join(missing)}")
    ts_i = names.index("timestamp") if "timestamp" in names else 0
    value_i = names.index("value") if "value" in names else 1
    extra_i = [names.index(c) for c in extra_columns]
    previous: datetime | None = None
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) <= max([ts_i, value_i, *extra_i]):
            raise UsageError(f"{path}:{line}: expected {len(names)} columns, got {len(row)}")
        ts_text, value_text = row[ts_i].strip(), row[value_i].strip()
        try:
            ts = parse_timestamp(ts_text)
        except (ValueError, OverflowError, OSError):
            raise UsageError(f"{path}:{line}: {ts_text!r} is not a timestamp") from None
        try:
            value = float(value_text)
        except ValueError:
            raise UsageError(f"{path}:{line}: {value_text!r} is not a number") from None
        if not math.isfinite(value):
            raise UsageError(f"{path}:{line}: {value_text!r} is not a finite number")
        if previous is not None and ts <= previous:
            raise UsageError(f"{path}:{line}: timestamps must increase ({ts_text} is not later)")
        previous = ts
        yield CsvPoint(line, ts, value, ts_text, value_text, tuple(row[i].strip() for i in extra_i))


def read_points(path: pathlib.Path, *, extra_columns: tuple[str, ...] = ()) -> list[CsvPoint]:
    """Every row of the CSV at ``path``, validated.

    Raises:
        UsageError: the file cannot be read, or a row is bad (the message names the line).
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(_rows(path, handle, extra_columns))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a UTF-8 text file") from exc
    except csv.Error as exc:
        raise UsageError(f"{path}: not a CSV file: {exc}") from exc


def score_points(
    points: Iterable[CsvPoint],
    series: SeriesKey,
    settings: DetectorSettings | None = None,
) -> Iterator[tuple[CsvPoint, float]]:
    """Each point with its anomaly score in [0, 1], computed causally in order."""
    detector = OnlineDetector(series, settings)
    for point in points:
        yield point, detector.step(point.ts, point.value).score


def write_scores(scored: Iterable[tuple[CsvPoint, float]], out: IO[str]) -> int:
    """Write ``timestamp,value,anomaly_score`` rows to ``out``; the number of rows written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score"])
    n = 0
    for point, score in scored:
        writer.writerow([point.ts_text, point.value_text, f"{score:.4f}"])
        n += 1
    return n
