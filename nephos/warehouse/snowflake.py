"""The cloud warehouse: Snowflake through snowflake-connector-python, with qmark binds.

The connection comes from :mod:`nephos.warehouse.snowflake_conn`. Statements are sent as
written in ``snowflake/`` with ``:name`` binds turned into ``?``. Loads send rows as one JSON
array per statement (``INSERT ... SELECT ... FROM TABLE(FLATTEN(PARSE_JSON(?)))``), skipping
seqs already in ``events``, in one transaction. (Not MERGE: fakesnow, the tested double,
runs MERGE through a temporary table, which it cannot do inside a transaction; the anti-join
insert does the same and runs on both.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from nephos.clock import Clock, SystemClock
from nephos.errors import WarehouseError
from nephos.model import Event, MetricPoint
from nephos.warehouse.base import Warehouse
from nephos.warehouse.rows import (
    JSON_COLUMNS,
    TABLE_COLUMNS,
    dumps,
    flatten,
    metric_columns,
    naive_utc,
)
from nephos.warehouse.runtime import ConnectionThread, as_dicts
from nephos.warehouse.snowflake_conn import connect_args, map_error, resolve_connection
from nephos.warehouse.sql_binds import bind_value
from nephos.warehouse.sql_loader import SqlLibrary

__all__ = ["SnowflakeWarehouse"]

T = TypeVar("T")

_PAYLOAD_CHARS = 4_000_000  # per statement; Snowflake takes binds up to 16 MB


def _payloads(rows: list[tuple[Any, ...]], raw_json: set[int]) -> Iterator[str]:
    """Rows as JSON arrays of positional values, in chunks of about ``_PAYLOAD_CHARS``.

    Columns in ``raw_json`` already hold JSON text and are embedded as is; datetimes become
    text that ``::TIMESTAMP_NTZ`` reads.
    """
    chunk: list[str] = []
    size = 0
    for row in rows:
        parts = [
            v if i in raw_json and v is not None else dumps(_jsonable(v)) for i, v in enumerate(row)
        ]
        text = "[" + ",".join(parts) + "]"
        if chunk and size + len(text) > _PAYLOAD_CHARS:
            yield "[" + ",".join(chunk) + "]"
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        yield "[" + ",".join(chunk) + "]"


def _jsonable(value: Any) -> Any:
    # "YYYY-MM-DD HH:MM:SS[.ffffff]": the form every TIMESTAMP_INPUT_FORMAT AUTO reads.
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


class SnowflakeWarehouse(Warehouse):
    """The ``snowflake`` backend."""

    name = "snowflake"

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        library: SqlLibrary | None = None,
        clock: Clock | None = None,
        create_schema: bool = True,
    ) -> None:
        """``settings`` are resolved connection settings (see ``resolve_connection``)."""
        self._settings = dict(settings)
        self.account = str(settings.get("account") or settings.get("host") or "")
        self.library = library or SqlLibrary()
        self._clock = clock or SystemClock()
        self._create_schema = create_schema
        self._thread: ConnectionThread | None = None
        self._conn: Any = None

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], *, clock: Clock | None = None
    ) -> SnowflakeWarehouse:
        """The backend for ``storage.warehouse.options`` (plus connections.toml and env).

        Raises:
            ConfigError: the connection cannot be resolved (see ``resolve_connection``).
        """
        return cls(resolve_connection(options), clock=clock)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Connect, and create any missing table in the current schema.

        Raises:
            ConfigError: the private key cannot be read.
            WarehouseError: Snowflake cannot be reached, refuses the login, or the schema
                cannot be created.
        """
        if self._thread is not None:
            return
        args = connect_args(self._settings)
        self._thread = ConnectionThread("nephos-snowflake")
        try:
            await self._thread.call(self._open, args)
        except BaseException:
            self._thread.shutdown()
            self._thread = None
            raise

    def _open(self, args: dict[str, Any]) -> None:
        import snowflake.connector

        with self._mapped("connect"):
            self._conn = snowflake.connector.connect(**args)
        if not self._create_schema:
            return
        try:
            with self._mapped("create the schema"):
                cursor = self._conn.cursor()
                for statement in self.library.ddl():
                    cursor.execute(statement)
        except BaseException:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.close()
            raise

    async def close(self) -> None:
        """Close the session; idempotent.

        Raises:
            WarehouseError: closing failed.
        """
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.close_with(self._close)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with self._mapped("close the session"):
                conn.close()

    # ------------------------------------------------------------------ loads

    async def load_events(self, events: Sequence[Event]) -> int:
        """Load events into their history tables and ``events`` in one transaction.

        Seqs already in ``events`` (and repeats within the batch) are skipped. Returns the
        number of events that were new.

        Raises:
            WarehouseError: the load failed; the transaction was rolled back.
        """
        if not events:
            return 0
        return int(await self._call(self._load_events, list(events)))

    def _load_events(self, events: list[Event]) -> int:
        cursor = self._cursor()
        with self._mapped("load events"), self._transaction(cursor):
            existing = self._existing_seqs(cursor, sorted({e.seq for e in events}))
            fresh: dict[int, Event] = {}
            for event in events:
                if event.seq not in existing and event.seq not in fresh:
                    fresh[event.seq] = event
            if not fresh:
                return 0
            try:
                tables = flatten(list(fresh.values()))
            except (ValueError, TypeError, KeyError) as exc:
                raise WarehouseError(f"Snowflake: an event cannot be typed: {exc}") from exc
            # History rows first, then events: the guard on each insert reads events.
            for table in sorted(tables, key=lambda t: t == "events"):
                self._insert(cursor, table, tables[table], guard=True)
        return len(fresh)

    @staticmethod
    def _existing_seqs(cursor: Any, seqs: list[int]) -> set[int]:
        cursor.execute(
            "SELECT seq FROM events WHERE seq BETWEEN ? AND ? AND seq IN "
            "(SELECT f.value::BIGINT FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f)",
            [seqs[0], seqs[-1], dumps(seqs)],
        )
        return {int(r[0]) for r in cursor.fetchall()}

    def _insert(self, cursor: Any, table: str, rows: list[tuple[Any, ...]], *, guard: bool) -> None:
        """Insert rows sent as one JSON array per statement, unpacked by FLATTEN.

        One bind per chunk keeps the statement small however many rows it carries: the
        server parses the JSON, instead of compiling thousands of binds (and fakesnow,
        which transpiles each statement, stays fast too).
        """
        columns = TABLE_COLUMNS[table]
        json_cols = JSON_COLUMNS.get(table, frozenset())
        types = self.library.column_types()[table]
        select = ", ".join(
            f"f.value[{i}]" if c in json_cols else f"f.value[{i}]::{types[c]}"
            for i, c in enumerate(columns)
        )
        where = (
            " WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = f.value[0]::BIGINT)"
            if guard
            else ""
        )
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} "  # noqa: S608 (ours)
            f"FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f{where}"
        )
        for payload in _payloads(rows, {i for i, c in enumerate(columns) if c in json_cols}):
            cursor.execute(sql, [payload])

    async def load_metrics(self, points: Sequence[MetricPoint]) -> int:
        """Append metric points outside the change feed (``seq`` NULL); not idempotent.

        Raises:
            WarehouseError: the load failed; the transaction was rolled back.
        """
        if not points:
            return 0
        columns = metric_columns(points)
        rows = list(zip(*(columns[c] for c in TABLE_COLUMNS["metrics"]), strict=True))
        await self._call(self._load_rows, "metrics", rows)
        return len(points)

    def _load_rows(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        cursor = self._cursor()
        with self._mapped(f"load {table}"), self._transaction(cursor):
            self._insert(cursor, table, rows, guard=False)

    # ------------------------------------------------------------------ checkpoints

    async def get_checkpoint(self, name: str) -> int:
        """The last seq recorded for ``name``, or 0.

        Raises:
            WarehouseError: the warehouse cannot be read.
        """
        rows = await self.execute("SELECT seq FROM etl_checkpoints WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    async def set_checkpoint(self, name: str, seq: int) -> None:
        """Record ``seq`` for ``name``, replacing the previous value in one transaction.

        Raises:
            WarehouseError: the warehouse cannot be written.
        """
        await self._call(self._set_checkpoint, name, seq, naive_utc(self._clock.now()))

    def _set_checkpoint(self, name: str, seq: int, now: datetime) -> None:
        cursor = self._cursor()
        with self._mapped("record the checkpoint"), self._transaction(cursor):
            cursor.execute("DELETE FROM etl_checkpoints WHERE name = ?", [name])
            cursor.execute(
                "INSERT INTO etl_checkpoints (name, seq, updated_at) VALUES (?, ?, ?)",
                [name, seq, now],
            )

    # ------------------------------------------------------------------ queries

    async def query(
        self, statement: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run ``snowflake/analytics/<statement>.sql`` as written, binds as qmarks.

        Raises:
            WarehouseError: unknown statement, a missing or unknown parameter, or the
                statement failed.
        """
        bound = self.library.statement(statement).bind(params)
        result = await self._call(self._fetch, f"run {statement}", bound.sql, bound.args)
        names, rows = result
        return as_dicts(names, rows)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one Snowflake statement with qmark binds; the rows it produced, if any.

        Raises:
            WarehouseError: the statement failed.
        """
        args = tuple(bind_value(p) for p in params)
        _, rows = await self._call(self._fetch, "run a statement", sql, args)
        return rows

    def _fetch(
        self, action: str, sql: str, args: Sequence[Any]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self._cursor()
        with self._mapped(action):
            cursor.execute(sql, list(args) if args else None)
            if not cursor.description:
                return [], []
            names = [d[0] for d in cursor.description]
            return names, [tuple(r) for r in cursor.fetchall()]

    # ------------------------------------------------------------------ plumbing

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._thread is None:
            raise WarehouseError("the Snowflake warehouse is not open")
        return await self._thread.call(fn, *args)

    def _cursor(self) -> Any:
        if self._conn is None:
            raise WarehouseError("the Snowflake warehouse is not open")
        return self._conn.cursor()

    @contextlib.contextmanager
    def _transaction(self, cursor: Any) -> Iterator[None]:
        # Not a bare BEGIN, which can also read as the start of a Snowflake Scripting block.
        cursor.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    @contextlib.contextmanager
    def _mapped(self, action: str) -> Iterator[None]:
        from snowflake.connector.errors import Error

        try:
            yield
        except Error as exc:
            raise map_error(exc, action, self.account) from exc
