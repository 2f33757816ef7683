"""Change-feed events flattened into the typed columns of the warehouse's history tables.

Both backends load what :func:`flatten` returns; the column lists here are the ones that
``snowflake/ddl/*.sql`` creates (``tests/test_warehouse_rows.py`` checks they agree). Times
become naive UTC datetimes (``TIMESTAMP_NTZ``); nested values become compact JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from nephos.model import Event, EventKind, MetricPoint

__all__ = [
    "JSON_COLUMNS",
    "KIND_TABLE",
    "TABLE_COLUMNS",
    "Columns",
    "dumps",
    "flatten",
    "metric_columns",
    "naive_utc",
]

Columns = dict[str, list[Any]]
"""One table's new rows, column by column (every list has the same length)."""

TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "events": ("seq", "kind", "ts", "data"),
    "results": (
        "seq", "ts", "target", "kind", "provider", "region", "health", "latency_ms", "success",
        "status_code", "error", "reason", "flapping", "sentinel_offline", "cert_not_after",
    ),
    "metrics": ("seq", "ts", "instance", "metric", "unit", "value", "provider"),
    "alerts": (
        "seq", "ts", "id", "dedup_key", "target", "source", "state", "severity", "title",
        "message", "condition", "value", "provider", "started_at", "updated_at", "resolved_at",
        "acknowledged_at", "flapping", "suppressed_by", "version", "facts",
    ),
    "instances": (
        "seq", "ts", "provider", "instance_id", "name", "state", "raw_state", "substate",
        "account", "region", "zone", "size", "vcpus", "memory_mb", "health_signal",
        "created_at", "updated_at", "tags",
    ),
}  # fmt: skip
"""The columns each load writes, in DDL order."""

JSON_COLUMNS: Mapping[str, frozenset[str]] = {
    "events": frozenset({"data"}),
    "alerts": frozenset({"facts"}),
    "instances": frozenset({"tags"}),
}
"""Columns holding JSON text that the warehouse stores as VARIANT."""

KIND_TABLE: Mapping[EventKind, str] = {
    EventKind.CHECK: "results",
    EventKind.METRIC: "metrics",
    EventKind.ALERT: "alerts",
    EventKind.INSTANCE: "instances",
}
"""The history table of each event kind."""

# One encoder, built once: json.dumps() with options builds a new encoder on every call.
dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def naive_utc(value: datetime) -> datetime:
    """``value`` in UTC without tzinfo, as TIMESTAMP_NTZ holds it (naive input is kept)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


class _Times:
    """RFC 3339 text to naive UTC, cached: the events of one batch share many timestamps."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}

    def __call__(self, value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return naive_utc(value)
        text = str(value)
        hit = self._seen.get(text)
        if hit is None:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            hit = self._seen[text] = naive_utc(parsed) if parsed.tzinfo else parsed
        return hit


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _result_row(seq: int, ts: datetime, d: Mapping[str, Any], t: _Times) -> tuple[Any, ...]:
    tls = d.get("tls")
    cert = tls.get("leaf_not_after") if isinstance(tls, Mapping) else None
    return (
        seq, t(d.get("ts")) or ts, str(d.get("target", "")), str(d.get("kind", "")),
        _str(d.get("provider")), _str(d.get("region")), str(d.get("health", "unknown")),
        _float(d.get("latency_ms")), bool(d.get("success", False)), _int(d.get("status_code")),
        _str(d.get("error")), _str(d.get("reason")), _bool(d.get("flapping")),
        _bool(d.get("sentinel_offline")), t(cert),
    )  # fmt: skip


def _metric_row(seq: int, ts: datetime, d: Mapping[str, Any], t: _Times) -> tuple[Any, ...]:
    return (
        seq, t(d.get("ts")) or ts, str(d.get("instance", "")), str(d.get("metric", "")),
        _str(d.get("unit")), _float(d.get("value")), _str(d.get("provider")),
    )  # fmt: skip


def _alert_row(seq: int, ts: datetime, d: Mapping[str, Any], t: _Times) -> tuple[Any, ...]:
    return (
        seq, ts, str(d.get("id", "")), _str(d.get("dedup_key")), _str(d.get("target")),
        _str(d.get("source")), str(d.get("state", "")), _str(d.get("severity")),
        _str(d.get("title")), _str(d.get("message")), _str(d.get("condition")),
        _str(d.get("value")), _str(d.get("provider")), t(d.get("started_at")),
        t(d.get("updated_at")), t(d.get("resolved_at")), t(d.get("acknowledged_at")),
        _bool(d.get("flapping")), _str(d.get("suppressed_by")), _int(d.get("version")),
        dumps(d.get("facts") or {}),
    )  # fmt: skip


def _instance_row(seq: int, ts: datetime, d: Mapping[str, Any], t: _Times) -> tuple[Any, ...]:
    return (
        seq, ts, str(d.get("provider", "")), str(d.get("id", "")), _str(d.get("name")),
        str(d.get("state", "unknown")), _str(d.get("raw_state")), _str(d.get("substate")),
        _str(d.get("account")), _str(d.get("region")), _str(d.get("zone")),
        _str(d.get("size")), _int(d.get("vcpus")), _int(d.get("memory_mb")),
        _str(d.get("health_signal")), t(d.get("created_at")), t(d.get("updated_at")),
        dumps(d.get("tags") or {}),
    )  # fmt: skip


_ROW = {
    "results": _result_row,
    "metrics": _metric_row,
    "alerts": _alert_row,
    "instances": _instance_row,
}


def flatten(events: Sequence[Event]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per table for ``events``: each event's history row, and its row in ``events``.

    Tables without rows are left out. Raises ValueError or TypeError on data that cannot be
    typed (a timestamp that does not parse, a number that is not one).
    """
    times = _Times()
    out: dict[str, list[tuple[Any, ...]]] = {}
    for event in events:
        ts = naive_utc(event.ts)
        table = KIND_TABLE[EventKind(event.kind)]
        out.setdefault(table, []).append(_ROW[table](event.seq, ts, event.data, times))
        out.setdefault("events", []).append(
            (event.seq, str(event.kind), ts, dumps(dict(event.data)))
        )
    return out


def metric_columns(points: Sequence[MetricPoint]) -> Columns:
    """The ``metrics`` columns of bulk-loaded points (``seq`` NULL, ``ts`` naive UTC)."""
    stamps: dict[datetime, datetime] = {}
    ts: list[Any] = []
    for p in points:
        hit = stamps.get(p.ts)
        if hit is None:
            hit = stamps[p.ts] = naive_utc(p.ts)
        ts.append(hit)
    return {
        "seq": [None] * len(points),
        "ts": ts,
        "instance": [p.instance for p in points],
        "metric": [p.metric for p in points],
        "unit": [p.unit for p in points],
        "value": [float(p.value) for p in points],
        "provider": [p.provider for p in points],
    }
