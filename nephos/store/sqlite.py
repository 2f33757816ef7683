"""The embedded hot store: one SQLite file in WAL mode, driven from one dedicated thread.

Every write runs ``BEGIN IMMEDIATE``, stores its rows, appends its change-feed events and
commits, so an event is visible exactly when its data is. The schema lives in
``sqlite_schema.py``. Event ``ts`` is the commit time on the injected clock; the written
object's own times are inside ``data``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from nephos.clock import Clock, SystemClock
from nephos.errors import StoreError
from nephos.model import (
    Alert,
    AlertState,
    CheckResult,
    Event,
    EventKind,
    Instance,
    MetricPoint,
    from_dict,
    to_dict,
)
from nephos.store.base import HotStore
from nephos.store.sqlite_db import SqliteDatabase
from nephos.store.sqlite_schema import (
    INSERT_EVENT,
    INSERT_METRIC,
    INSERT_RESULT,
    UPSERT_ALERT,
    UPSERT_INSTANCE,
    UPSERT_LATEST_RESULT,
    dumps,
    encode_metrics,
    encode_results,
    from_us,
    to_us,
)

__all__ = ["SqliteHotStore"]

log = logging.getLogger(__name__)


_OPEN_STATES = (AlertState.FIRING.value, AlertState.ACKNOWLEDGED.value)
_KINDS = {kind.value: kind for kind in EventKind}  # EventKind(text) is a slow call per row
_KEYS_PER_QUERY = 500  # well under SQLite's limit on host parameters per statement


class SqliteHotStore(HotStore):
    """The ``sqlite`` hot store backend.

    Args:
        path: the database file; ``~`` is expanded and parent directories are created.
            ``:memory:`` gives a private in-memory store (for tests and demos).
        clock: the clock that stamps change-feed events; the system clock by default.
        busy_timeout: seconds a write waits for another process's lock before the store
            reports :class:`~nephos.errors.StoreUnavailable`.
    """

    name: ClassVar[str] = "sqlite"

    def __init__(self, path: str, *, clock: Clock | None = None, busy_timeout: float = 5.0) -> None:
        self._db = SqliteDatabase(path, busy_timeout=busy_timeout)
        self.path = self._db.path
        self._clock: Clock = clock or SystemClock()

    async def open(self) -> None:
        """Open the file (creating it and its directory), enable WAL and migrate the schema.

        Raises:
            StoreUnavailable: the file cannot be opened or created right now.
            StoreError: the file is not a nephos hot store, or was written by a newer nephos.
        """
        await self._db.open()

    async def close(self) -> None:
        """Close the connection and stop the store's thread; idempotent."""
        await self._db.close()

    def _append_events(
        self, conn: sqlite3.Connection, kind: EventKind, payloads: Sequence[str]
    ) -> list[int]:
        if not payloads:
            return []
        now, name = to_us(self._clock.now()), kind.value  # enum .value is a property call
        conn.executemany(INSERT_EVENT, [(name, now, payload) for payload in payloads])
        # One writer holds the write lock, so this transaction's seqs are consecutive and end
        # at the sequence's high-water mark.
        last = int(
            conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()[0]
        )
        return list(range(last - len(payloads) + 1, last + 1))

    # ------------------------------------------------------------------ writes

    async def put_results(self, results: Sequence[CheckResult]) -> list[int]:
        """Store check results and append one ``check`` event each, in one transaction.

        Raises:
            StoreUnavailable: the database is locked, full, unreadable or removed.
            StoreError: any other database failure.
        """
        if not results:
            return []
        # Encoded on the store thread: a large batch must not stall the event loop.
        rows = await self._db.call(encode_results, results)

        def body(conn: sqlite3.Connection) -> list[int]:
            conn.executemany(INSERT_RESULT, rows)
            conn.executemany(UPSERT_LATEST_RESULT, [(t, ts, data) for t, ts, _, data in rows])
            return self._append_events(conn, EventKind.CHECK, [row[3] for row in rows])

        return await self._db.write("store results", body)

    async def put_alert(self, alert: Alert, *, expected_version: int | None = None) -> Alert:
        """Upsert an alert with ``version + 1`` and append an ``alert`` event.

        A missing alert counts as version 0 for ``expected_version``.

        Raises:
            StoreError: ``expected_version`` differs from the stored version, or the write failed.
            StoreUnavailable: the database is locked, full, unreadable or removed.
        """
        stored = dataclasses.replace(alert, version=alert.version + 1)
        payload = dumps(to_dict(stored))
        resolved = to_us(stored.resolved_at) if stored.resolved_at else None

        def body(conn: sqlite3.Connection) -> Alert:
            if expected_version is not None:
                row = conn.execute(
                    "SELECT version FROM alerts WHERE id = ?", (alert.id,)
                ).fetchone()
                current = int(row[0]) if row else 0
                if current != expected_version:
                    raise StoreError(
                        f"alert {alert.id} was changed concurrently: expected version "
                        f"{expected_version}, stored version is {current}"
                    )
            conn.execute(
                UPSERT_ALERT,
                (
                    stored.id,
                    stored.dedup_key,
                    stored.state.value,
                    stored.target,
                    to_us(stored.started_at),
                    to_us(stored.updated_at),
                    resolved,
                    stored.version,
                    payload,
                ),
            )
            self._append_events(conn, EventKind.ALERT, [payload])
            return stored

        return await self._db.write("store alert", body)

    async def put_instances(self, instances: Sequence[Instance]) -> list[int]:
        """Upsert instances by (provider, id) and append one ``instance`` event each.

        Raises:
            StoreUnavailable: the database is locked, full, unreadable or removed.
            StoreError: any other database failure.
        """
        if not instances:
            return []
        rows = [(i.provider, i.id, dumps(to_dict(i))) for i in instances]

        def body(conn: sqlite3.Connection) -> list[int]:
            conn.executemany(UPSERT_INSTANCE, rows)
            return self._append_events(conn, EventKind.INSTANCE, [row[2] for row in rows])

        return await self._db.write("store instances", body)

    async def put_metrics(self, points: Sequence[MetricPoint]) -> list[int]:
        """Store metric points and append one ``metric`` event each, in one transaction.

        Raises:
            StoreUnavailable: the database is locked, full, unreadable or removed.
            StoreError: any other database failure.
        """
        if not points:
            return []
        rows, payloads = await self._db.call(encode_metrics, points)

        def body(conn: sqlite3.Connection) -> list[int]:
            conn.executemany(INSERT_METRIC, rows)
            return self._append_events(conn, EventKind.METRIC, payloads)

        return await self._db.write("store metrics", body)

    # ------------------------------------------------------------------ reads

    async def latest_results(self) -> list[CheckResult]:
        """The newest result of every target, ordered by target.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        rows = await self._db.read(
            "read results", "SELECT data FROM latest_results ORDER BY target"
        )
        return [from_dict(CheckResult, json.loads(row[0])) for row in rows]

    async def results(
        self, target: str | None = None, *, since: datetime | None = None, limit: int = 1000
    ) -> list[CheckResult]:
        """The newest ``limit`` results with ``ts >= since``, newest first.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        where: list[str] = []
        params: list[Any] = []
        if target is not None:
            where.append("target = ?")
            params.append(target)
        if since is not None:
            where.append("ts_us >= ?")
            params.append(to_us(since))
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        sql = f"SELECT data FROM results {clause}ORDER BY ts_us DESC, rowid DESC LIMIT ?"  # noqa: S608 - fixed fragments only
        rows = await self._db.read("read results", sql, [*params, limit])
        return [from_dict(CheckResult, json.loads(row[0])) for row in rows]

    async def get_alert(self, alert_id: str) -> Alert | None:
        """One alert by id, or None.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        rows = await self._db.read(
            "read alerts", "SELECT data FROM alerts WHERE id = ?", (alert_id,)
        )
        return from_dict(Alert, json.loads(rows[0][0])) if rows else None

    async def alerts(
        self, *, states: Sequence[AlertState] | None = None, limit: int = 1000
    ) -> list[Alert]:
        """Alerts, most recently started first, optionally only in ``states``.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        params: list[Any] = []
        clause = ""
        if states is not None:
            if not states:
                return []
            clause = f"WHERE state IN ({', '.join('?' for _ in states)}) "
            params.extend(AlertState(s).value for s in states)
        sql = f"SELECT data FROM alerts {clause}ORDER BY started_us DESC, id DESC LIMIT ?"  # noqa: S608 - placeholders only
        rows = await self._db.read("read alerts", sql, [*params, limit])
        return [from_dict(Alert, json.loads(row[0])) for row in rows]

    async def open_alert(self, dedup_key: str) -> Alert | None:
        """The newest firing or acknowledged alert with ``dedup_key``, or None.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        rows = await self._db.read(
            "read alerts",
            "SELECT data FROM alerts WHERE dedup_key = ? AND state IN (?, ?) "
            "ORDER BY started_us DESC, id DESC LIMIT 1",
            (dedup_key, *_OPEN_STATES),
        )
        return from_dict(Alert, json.loads(rows[0][0])) if rows else None

    async def instances(self) -> list[Instance]:
        """Every known instance, ordered by provider and id.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        rows = await self._db.read(
            "read instances", "SELECT data FROM instances ORDER BY provider, id"
        )
        return [from_dict(Instance, json.loads(row[0])) for row in rows]

    async def metrics(
        self,
        instance: str | None = None,
        metric: str | None = None,
        *,
        since: datetime | None = None,
        limit: int = 10000,
    ) -> list[MetricPoint]:
        """The newest ``limit`` points with ``ts >= since``, returned oldest first.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("instance", instance), ("metric", metric)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("ts_us >= ?")
            params.append(to_us(since))
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        sql = (
            "SELECT instance, metric, unit, provider, ts_us, value FROM metrics "  # noqa: S608 - fixed fragments only
            f"{clause}ORDER BY ts_us DESC, rowid DESC LIMIT ?"
        )
        rows = await self._db.read("read metrics", sql, [*params, limit])
        return [
            MetricPoint(
                instance=row[0],
                metric=row[1],
                unit=row[2],
                provider=row[3],
                ts=from_us(row[4]),
                value=row[5],
            )
            for row in reversed(rows)
        ]

    # ------------------------------------------------------------------ change feed

    async def changes(self, after_seq: int, limit: int = 1000) -> list[Event]:
        """Events with ``seq > after_seq`` in seq order, at most ``limit``.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        rows = await self._db.read(
            "read the change feed",
            "SELECT seq, kind, ts_us, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        # The events of one commit share their time and kind: convert each once.
        stamps: dict[int, datetime] = {}
        out = []
        for seq, kind, ts_us, data in rows:
            ts = stamps.get(ts_us)
            if ts is None:
                ts = stamps[ts_us] = from_us(ts_us)
            out.append(Event(seq=seq, kind=_KINDS[kind], ts=ts, data=json.loads(data)))
        return out

    async def latest_seq(self) -> int:
        """The highest seq ever committed (purged or not), or 0.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        rows = await self._db.read(
            "read the change feed",
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
        )
        return int(rows[0][0]) if rows else 0

    # ------------------------------------------------------------------ state

    async def get_state(self, key: str) -> Any | None:
        """The JSON value stored under ``key``, or None.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        rows = await self._db.read("read state", "SELECT value FROM state WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    async def set_state(self, key: str, value: Any) -> None:
        """Store the JSON value ``value`` under ``key``.

        Raises:
            StoreError: ``value`` is not JSON-serialisable, or the write failed.
            StoreUnavailable: the database is locked, full, unreadable or removed.
        """
        try:
            text = dumps(value)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"state {key!r}: value is not JSON: {exc}") from exc

        def body(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

        await self._db.write("store state", body)

    async def get_states(self, keys: Sequence[str]) -> dict[str, Any]:
        """The JSON values stored under ``keys``, read a page of keys per query.

        Raises:
            StoreUnavailable: the database cannot be read right now.
            StoreError: any other database failure.
        """
        unique = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            page = unique[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" for _ in page)
            sql = f"SELECT key, value FROM state WHERE key IN ({marks})"  # noqa: S608 - marks only
            for key, text in await self._db.read("read state", sql, page):
                found[key] = json.loads(text)
        return found

    async def set_states(self, values: Mapping[str, Any]) -> None:
        """Store several JSON values in one transaction.

        Raises:
            StoreError: a value is not JSON-serialisable, or the write failed.
            StoreUnavailable: the database is locked, full, unreadable or removed.
        """
        rows = []
        for key, value in values.items():
            try:
                rows.append((key, dumps(value)))
            except (TypeError, ValueError) as exc:
                raise StoreError(f"state {key!r}: value is not JSON: {exc}") from exc
        if not rows:
            return

        def body(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO state (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                rows,
            )

        await self._db.write("store state", body)

    # ------------------------------------------------------------------ retention

    async def purge(self, before: datetime, *, protect_from_seq: int | None = None) -> int:
        """Delete rows older than ``before``; events after ``protect_from_seq`` are kept.

        Resolved alerts go by ``resolved_at`` (or ``updated_at`` when unset); firing and
        acknowledged alerts are never purged. Returns the number of rows deleted.

        Raises:
            StoreUnavailable: the database is locked, full, unreadable or removed.
            StoreError: any other database failure.
        """
        cutoff = to_us(before)

        def body(conn: sqlite3.Connection) -> int:
            # latest_results is derived from results: kept in step, not counted.
            conn.execute("DELETE FROM latest_results WHERE ts_us < ?", (cutoff,))
            deleted = 0
            for sql, params in (
                ("DELETE FROM results WHERE ts_us < ?", (cutoff,)),
                ("DELETE FROM metrics WHERE ts_us < ?", (cutoff,)),
                (
                    "DELETE FROM alerts WHERE state = ? AND COALESCE(resolved_us, updated_us) < ?",
                    (AlertState.RESOLVED.value, cutoff),
                ),
            ):
                deleted += conn.execute(sql, params).rowcount
            if protect_from_seq is None:
                deleted += conn.execute("DELETE FROM events WHERE ts_us < ?", (cutoff,)).rowcount
                return deleted
            deleted += conn.execute(
                "DELETE FROM events WHERE ts_us < ? AND seq <= ?", (cutoff, protect_from_seq)
            ).rowcount
            kept = int(
                conn.execute(
                    "SELECT COUNT(*) FROM events WHERE ts_us < ? AND seq > ?",
                    (cutoff, protect_from_seq),
                ).fetchone()[0]
            )
            if kept:
                log.warning(
                    "hot store %s: kept %d expired events after seq %d (not yet loaded)",
                    self.path,
                    kept,
                    protect_from_seq,
                )
            return deleted

        return await self._db.write("purge", body)
