"""The SQLite hot store's schema, migrations, write statements, row encoding and error mapping.

Kept apart from ``sqlite.py`` so that the store reads as behaviour and this file as data.
Timestamps are stored as integer microseconds since the Unix epoch (UTC): they sort and
compare exactly, which RFC 3339 text with optional fractions does not.
"""

from __future__ import annotations

import json
import operator
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nephos.errors import StoreError, StoreUnavailable
from nephos.model import CheckResult, MetricPoint, to_dict

__all__ = [
    "INSERT_EVENT",
    "INSERT_METRIC",
    "INSERT_RESULT",
    "SCHEMA_VERSION",
    "UPSERT_ALERT",
    "UPSERT_INSTANCE",
    "UPSERT_LATEST_RESULT",
    "dumps",
    "encode_metrics",
    "encode_results",
    "from_us",
    "iso",
    "map_sqlite_error",
    "migrate",
    "to_us",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Each entry upgrades the schema from version (index) to version (index + 1).
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE results (
            target TEXT NOT NULL,
            ts_us INTEGER NOT NULL,
            health TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX results_target_ts ON results (target, ts_us)",
        "CREATE INDEX results_ts ON results (ts_us)",
        # The newest result per target, kept on write so that status reads stay O(targets).
        """CREATE TABLE latest_results (
            target TEXT PRIMARY KEY,
            ts_us INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
        """CREATE TABLE alerts (
            id TEXT PRIMARY KEY,
            dedup_key TEXT NOT NULL,
            state TEXT NOT NULL,
            target TEXT NOT NULL,
            started_us INTEGER NOT NULL,
            updated_us INTEGER NOT NULL,
            resolved_us INTEGER,
            version INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX alerts_dedup ON alerts (dedup_key, state)",
        "CREATE INDEX alerts_state ON alerts (state, started_us)",
        """CREATE TABLE instances (
            provider TEXT NOT NULL,
            id TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (provider, id)
        )""",
        """CREATE TABLE metrics (
            instance TEXT NOT NULL,
            metric TEXT NOT NULL,
            unit TEXT NOT NULL,
            provider TEXT NOT NULL,
            ts_us INTEGER NOT NULL,
            value REAL NOT NULL
        )""",
        "CREATE INDEX metrics_series_ts ON metrics (instance, metric, ts_us)",
        "CREATE INDEX metrics_ts ON metrics (ts_us)",
        "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        # AUTOINCREMENT: a seq is never reused, even after the newest events are purged.
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            ts_us INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_ts ON events (ts_us)",
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this code writes (``PRAGMA user_version``)."""

INSERT_EVENT = "INSERT INTO events (kind, ts_us, data) VALUES (?, ?, ?)"
INSERT_RESULT = "INSERT INTO results (target, ts_us, health, data) VALUES (?, ?, ?, ?)"
UPSERT_LATEST_RESULT = (
    "INSERT INTO latest_results (target, ts_us, data) VALUES (?, ?, ?) "
    "ON CONFLICT (target) DO UPDATE SET ts_us = excluded.ts_us, data = excluded.data "
    "WHERE excluded.ts_us >= latest_results.ts_us"
)
UPSERT_ALERT = (
    "INSERT INTO alerts (id, dedup_key, state, target, started_us, updated_us, "
    "resolved_us, version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET dedup_key = excluded.dedup_key, "
    "state = excluded.state, target = excluded.target, "
    "started_us = excluded.started_us, updated_us = excluded.updated_us, "
    "resolved_us = excluded.resolved_us, version = excluded.version, "
    "data = excluded.data"
)
UPSERT_INSTANCE = (
    "INSERT INTO instances (provider, id, data) VALUES (?, ?, ?) "
    "ON CONFLICT (provider, id) DO UPDATE SET data = excluded.data"
)
INSERT_METRIC = (
    "INSERT INTO metrics (instance, metric, unit, provider, ts_us, value) VALUES (?, ?, ?, ?, ?, ?)"
)


# Primary result codes (the low byte of an extended code) that mean "not now", not "wrong".
_UNAVAILABLE_CODES = {
    5,  # SQLITE_BUSY
    6,  # SQLITE_LOCKED
    8,  # SQLITE_READONLY: a read-only remount or a chmod
    10,  # SQLITE_IOERR
    13,  # SQLITE_FULL
    14,  # SQLITE_CANTOPEN
    15,  # SQLITE_PROTOCOL
}
_UNAVAILABLE_WORDS = (
    "database is locked",
    "disk i/o error",
    "unable to open",
    "database or disk is full",
    "readonly database",
)


def migrate(conn: sqlite3.Connection, path: str) -> None:
    """Create or upgrade the schema to :data:`SCHEMA_VERSION` in one transaction.

    Raises:
        StoreError: the file was written by a newer nephos.
        sqlite3.Error: on any database failure (mapped by the caller).
    """
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: hot store schema version {current} is newer than this nephos "
            f"understands ({SCHEMA_VERSION}); upgrade nephos"
        )
    if current == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statements in _MIGRATIONS[current:]:
            for statement in statements:
                conn.execute(statement)
        # PRAGMA takes no parameters; SCHEMA_VERSION is our own integer constant.
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def map_sqlite_error(exc: sqlite3.Error, path: str, action: str) -> StoreError:
    """The NephosError for a sqlite3 failure: StoreUnavailable when retrying later may work."""
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    unavailable = (code is not None and code & 0xFF in _UNAVAILABLE_CODES) or any(
        word in text.lower() for word in _UNAVAILABLE_WORDS
    )
    cls = StoreUnavailable if unavailable else StoreError
    return cls(f"hot store {path}: cannot {action}: {text}")


def to_us(when: datetime) -> int:
    """``when`` as integer microseconds since the epoch (naive values are read as local time,
    as :func:`nephos.model.to_dict` reads them)."""
    return (when.astimezone(UTC) - _EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    """The inverse of :func:`to_us`: an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


def iso(when: datetime) -> str:
    """``when`` as RFC 3339 UTC text, exactly as :func:`nephos.model.to_dict` writes it."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# One encoder, built once: json.dumps() with any option builds a new encoder on every call.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_results(results: Sequence[CheckResult]) -> list[tuple[str, int, str, str]]:
    """Rows for INSERT_RESULT: target, ts_us, health, the result's JSON."""
    return [(r.target, to_us(r.ts), r.health.value, dumps(to_dict(r))) for r in results]


def encode_metrics(points: Sequence[MetricPoint]) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Rows for INSERT_METRIC and the points' JSON (equal to ``to_dict``) for their events."""
    # to_dict() walks dataclass fields generically; ingest writes tens of thousands of points
    # a second, so this is a hand-written twin of it (the contract tests check they agree).
    # Points of one push share timestamps and names, so each is encoded once, and the JSON is
    # assembled from those pieces: the same text dumps() writes, in a third of the time.
    stamps: dict[datetime, tuple[int, str]] = {}
    heads: dict[tuple[str, str, str], str] = {}  # '{"instance":..,"metric":..,"unit":..,"ts":'
    tails: dict[str, str] = {}  # ',"provider":..}'
    rows: list[tuple[Any, ...]] = []
    payloads: list[str] = []
    for p in points:
        stamp = stamps.get(p.ts)
        if stamp is None:
            stamp = stamps[p.ts] = (to_us(p.ts), dumps(iso(p.ts)))
        rows.append((p.instance, p.metric, p.unit, p.provider, stamp[0], p.value))
        series = (p.instance, p.metric, p.unit)
        head = heads.get(series)
        if head is None:
            head = heads[series] = (
                f'{{"instance":{dumps(p.instance)},"metric":{dumps(p.metric)},'
                f'"unit":{dumps(p.unit)},"ts":'
            )
        tail = tails.get(p.provider)
        if tail is None:
            tail = tails[p.provider] = f',"provider":{dumps(p.provider)}}}'
        value = p.value
        # float.__repr__ is what the encoder writes for a finite float; anything else via dumps.
        text = repr(value) if type(value) is float and value - value == 0.0 else dumps(value)
        payloads.append(f'{head}{stamp[1]},"value":{text}{tail}')
    # In series order, the (instance, metric, ts_us) index is written page by page instead of
    # all over: a third less insert time for a large push. Stable, so ties keep their order.
    rows.sort(key=_SERIES_ORDER)
    return rows, payloads


_SERIES_ORDER = operator.itemgetter(0, 1, 4)
