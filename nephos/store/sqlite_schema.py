"""The SQLite hot store's schema, its migrations, and the mapping of sqlite3 errors to ours.

Kept apart from ``sqlite.py`` so that the store reads as behaviour and this file as data.
Timestamps are stored as integer microseconds since the Unix epoch (UTC): they sort and
compare exactly, which RFC 3339 text with optional fractions does not.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from nephos.errors import StoreError, StoreUnavailable

__all__ = [
    "SCHEMA_VERSION",
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
