"""The embedded warehouse: a DuckDB file running the project's Snowflake SQL through sqlglot.

One connection, owned by one thread. The schema is ``snowflake/ddl/*.sql`` transpiled; loads
go through registered NumPy columns (DuckDB scans them without a per-row round trip), which is
what makes a million-point metrics load take about a second rather than minutes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from nephos.clock import Clock, SystemClock
from nephos.errors import WarehouseError
from nephos.model import Event, MetricPoint
from nephos.warehouse.base import Warehouse
from nephos.warehouse.rows import TABLE_COLUMNS, Columns, flatten, metric_columns, naive_utc
from nephos.warehouse.runtime import ConnectionThread, as_dicts
from nephos.warehouse.sql_binds import bind_positional_duckdb, bind_value, to_duckdb
from nephos.warehouse.sql_loader import SqlLibrary

if TYPE_CHECKING:
    import duckdb as duckdb_module

__all__ = ["DuckDBWarehouse"]

T = TypeVar("T")

_STAGE = "nephos_stage"
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


class DuckDBWarehouse(Warehouse):
    """The ``duckdb`` backend: a file (or ``:memory:``) on this machine.

    DuckDB lets one process write a file at a time; a second writer gets a WarehouseError
    that says so.
    """

    name = "duckdb"

    def __init__(
        self,
        path: str | Path,
        *,
        library: SqlLibrary | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.path = str(path) if str(path) == ":memory:" else str(Path(path).expanduser())
        self.library = library or SqlLibrary()
        self._clock = clock or SystemClock()
        self._thread: ConnectionThread | None = None
        self._conn: duckdb_module.DuckDBPyConnection | None = None

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the file (creating it and its folder) and create any missing table.

        Raises:
            WarehouseError: the file cannot be opened (locked by another process, unreadable),
                or the schema cannot be created.
        """
        if self._thread is not None:
            return
        self._thread = ConnectionThread("nephos-duckdb")
        try:
            await self._thread.call(self._open)
        except BaseException:
            self._thread.shutdown()
            self._thread = None
            raise

    def _open(self) -> None:
        import duckdb

        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error(self.path, "create its directory", exc) from exc
        try:
            conn = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise _error(self.path, "open the warehouse", exc) from exc
        try:
            with self._mapped("create the schema"):
                with contextlib.suppress(duckdb.Error):  # no ICU: naive timestamps need no zone
                    conn.execute("SET TimeZone = 'UTC'")
                for statement in self.library.ddl():
                    conn.execute(to_duckdb(statement)[0])
        except BaseException:
            conn.close()  # the file stays free for the next attempt
            raise
        self._conn = conn

    async def close(self) -> None:
        """Close the connection and stop its thread; idempotent.

        Raises:
            WarehouseError: closing failed (the last writes could not be flushed).
        """
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.close_with(self._close)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with self._mapped("close the warehouse"):
                conn.close()

    # ------------------------------------------------------------------ loads

    async def load_events(self, events: Sequence[Event]) -> int:
        """Load events into their history tables and ``events`` in one transaction.

        Seqs already in ``events`` (and repeats within the batch) are skipped, so a reload
        adds nothing. Returns the number of events that were new.

        Raises:
            WarehouseError: the load failed; nothing of the batch was written.
        """
        if not events:
            return 0
        return await self._call(self._load_events, list(events))

    def _load_events(self, events: list[Event]) -> int:
        conn = self._connection()
        with self._mapped("load events"):
            existing = self._existing_seqs(conn, [e.seq for e in events])
            fresh: dict[int, Event] = {}
            for event in events:
                if event.seq not in existing and event.seq not in fresh:
                    fresh[event.seq] = event
            if not fresh:
                return 0
            try:
                tables = flatten(list(fresh.values()))
            except (ValueError, TypeError, KeyError) as exc:
                raise WarehouseError(
                    f"warehouse {self.path}: an event cannot be typed: {exc}"
                ) from exc
            conn.begin()
            try:
                for table, rows in tables.items():
                    columns = TABLE_COLUMNS[table]
                    values = zip(*rows, strict=True)
                    self._append(conn, table, dict(zip(columns, map(list, values), strict=True)))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        return len(fresh)

    def _existing_seqs(self, conn: duckdb_module.DuckDBPyConnection, seqs: list[int]) -> set[int]:
        import numpy as np

        conn.register("nephos_stage_seqs", {"seq": np.array(seqs, dtype=np.int64)})
        try:
            rows = conn.execute(
                "SELECT seq FROM events WHERE seq BETWEEN ? AND ? "
                "AND seq IN (SELECT seq FROM nephos_stage_seqs)",
                [min(seqs), max(seqs)],
            ).fetchall()
        finally:
            conn.unregister("nephos_stage_seqs")
        return {int(r[0]) for r in rows}

    async def load_metrics(self, points: Sequence[MetricPoint]) -> int:
        """Append metric points outside the change feed (``seq`` NULL): backfills, benchmarks.

        Not idempotent: loading the same points twice stores them twice.

        Raises:
            WarehouseError: the load failed; nothing was written.
        """
        if not points:
            return 0
        columns = metric_columns(points)
        await self._call(self._append_committed, "metrics", columns)
        return len(points)

    def _append_committed(self, table: str, columns: Columns) -> None:
        conn = self._connection()
        with self._mapped(f"load {table}"):
            conn.begin()
            try:
                self._append(conn, table, columns)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _append(self, conn: duckdb_module.DuckDBPyConnection, table: str, columns: Columns) -> None:
        """Insert columnar rows through a registered NumPy view (no per-row statements)."""
        import numpy as np

        arrays: dict[str, Any] = {}
        for name, values in columns.items():
            if name == "ts" and values and isinstance(values[0], datetime):
                arrays[name] = _timestamps(values)
            elif name == "value" and table == "metrics":
                arrays[name] = np.array(values, dtype=np.float64)
            else:
                arrays[name] = np.array(values, dtype=object)
        names = ", ".join(columns)
        view = f"{_STAGE}_{table}"
        conn.register(view, arrays)
        try:
            conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {view}")  # noqa: S608 (names are ours)
        finally:
            conn.unregister(view)

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoint(self, name: str) -> int:
        """The last seq recorded for ``name``, or 0.

        Raises:
            WarehouseError: the warehouse cannot be read.
        """
        rows = await self.execute("SELECT seq FROM etl_checkpoints WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    async def set_checkpoint(self, name: str, seq: int) -> None:
        """Record ``seq`` for ``name`` (an upsert).

        Raises:
            WarehouseError: the warehouse cannot be written.
        """
        now = naive_utc(self._clock.now())
        await self._call(self._set_checkpoint, name, seq, now)

    def _set_checkpoint(self, name: str, seq: int, now: datetime) -> None:
        conn = self._connection()
        with self._mapped("record the checkpoint"):
            conn.begin()
            try:
                conn.execute("DELETE FROM etl_checkpoints WHERE name = ?", [name])
                conn.execute(
                    "INSERT INTO etl_checkpoints (name, seq, updated_at) VALUES (?, ?, ?)",
                    [name, seq, now],
                )
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    # ------------------------------------------------------------------ queries

    async def query(
        self, statement: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run ``snowflake/analytics/<statement>.sql`` transpiled to DuckDB.

        Raises:
            WarehouseError: unknown statement, a missing or unknown parameter, or the
                statement failed.
        """
        bound = self.library.statement(statement).bind_duckdb(params)
        return await self._call(self._fetch_dicts, statement, bound.sql, bound.args)

    def _fetch_dicts(self, what: str, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        conn = self._connection()
        with self._mapped(f"run {what}"):
            cursor = conn.execute(sql, list(args))
            names = [d[0] for d in cursor.description or ()]
            return as_dicts(names, cursor.fetchall())

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one Snowflake-dialect statement (qmark binds) transpiled to DuckDB.

        Returns the rows it produced (none for most DDL and DML).

        Raises:
            WarehouseError: the statement does not transpile, or it failed.
        """
        bound = bind_positional_duckdb(sql, [bind_value(p) for p in params])
        return await self._call(self._fetch, bound.sql, bound.args)

    def _fetch(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        conn = self._connection()
        with self._mapped("run a statement"):
            cursor = conn.execute(sql, list(args))
            return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    # ------------------------------------------------------------------ plumbing

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._thread is None:
            raise WarehouseError(f"warehouse {self.path} is not open")
        return await self._thread.call(fn, *args)

    def _connection(self) -> duckdb_module.DuckDBPyConnection:
        if self._conn is None:
            raise WarehouseError(f"warehouse {self.path} is not open")
        return self._conn

    @contextlib.contextmanager
    def _mapped(self, action: str) -> Iterator[None]:
        import duckdb

        try:
            yield
        except duckdb.Error as exc:
            raise _error(self.path, action, exc) from exc


def _timestamps(values: list[datetime]) -> Any:
    """Naive UTC datetimes as a ``datetime64[us]`` array; NumPy's own conversion of datetime
    objects is about ten times slower, and a batch repeats few distinct values."""
    import numpy as np

    micros: dict[datetime, int] = {}

    def to_us(value: datetime) -> int:
        hit = micros.get(value)
        if hit is None:
            hit = micros[value] = (value - _EPOCH) // _MICROSECOND
        return hit

    ints = np.fromiter((to_us(v) for v in values), dtype=np.int64, count=len(values))
    return ints.view("datetime64[us]")


def _error(path: str, action: str, exc: Exception) -> WarehouseError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    hint = ""
    if "lock" in text.lower():
        hint = " (another process has it open; DuckDB allows one writer per file)"
    return WarehouseError(f"warehouse {path}: cannot {action}: {text}{hint}")
