"""The SQLite connection behind the hot store: one dedicated thread, WAL, error mapping.

:class:`SqliteDatabase` owns the file, the connection and the single worker thread that every
statement runs on, so that async callers never block the event loop and SQLite only ever sees
one writer per process. It knows nothing of nephos's tables; ``sqlite.py`` does.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from nephos.errors import StoreUnavailable
from nephos.store.sqlite_schema import map_sqlite_error, migrate

__all__ = ["SqliteDatabase"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteDatabase:
    """One SQLite file, opened in WAL mode with ``synchronous=NORMAL`` and a busy timeout.

    Args:
        path: the database file; ``~`` is expanded and parent directories are created.
            ``:memory:`` gives a private in-memory database.
        busy_timeout: seconds a statement waits for another process's lock.
    """

    def __init__(self, path: str, *, busy_timeout: float = 5.0) -> None:
        self._memory = path == ":memory:"
        self.path = path if self._memory else str(Path(path).expanduser())
        self._busy_timeout_ms = max(0, int(busy_timeout * 1000))
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the file (creating it and its directory), enable WAL and migrate the schema.

        Raises:
            StoreUnavailable: the file cannot be opened or created right now.
            StoreError: the file is not a nephos hot store, or was written by a newer nephos.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nephos-sqlite")
        await self.call(self._connect)

    async def close(self) -> None:
        """Close the connection and stop the thread; idempotent."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, self._disconnect)
        executor.shutdown(wait=True)

    def _connect(self) -> None:
        if not self._memory:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"hot store {self.path}: cannot create directory: {exc}"
                ) from exc
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc, self.path, "open") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms:d}")
            if not self._memory:
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, self.path)
        except sqlite3.Error as exc:
            conn.close()
            raise map_sqlite_error(exc, self.path, "open") from exc
        except BaseException:
            conn.close()
            raise
        self._disconnect()
        self._conn = conn
        self._identity = None if self._memory else self._file_identity()

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("hot store %s: error while closing: %s", self.path, exc)

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _check_file(self) -> None:
        """Refuse to write into an unlinked inode: SQLite would accept the write and lose it."""
        if self._memory:
            return
        try:
            identity = self._file_identity()
        except OSError as exc:
            raise StoreUnavailable(f"hot store {self.path}: cannot stat: {exc}") from exc
        if identity is None:
            raise StoreUnavailable(f"hot store {self.path}: the database file was removed")
        if identity != self._identity:
            # Someone put another database in its place (a restore): follow it.
            log.warning("hot store %s: the database file was replaced; reopening", self.path)
            self._connect()

    # ------------------------------------------------------------------ plumbing

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the database thread.

        Raises:
            StoreUnavailable: the database is not open.
        """
        if self._executor is None:
            # Unavailable, not wrong: a writer that outlives close() spools and retries later.
            raise StoreUnavailable(f"hot store {self.path} is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable(f"hot store {self.path} is not connected")
        return self._conn

    async def write(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` in one IMMEDIATE transaction on the database thread.

        Raises:
            StoreUnavailable: locked, full, unreadable, removed, or not open.
            StoreError: any other database failure, or what ``body`` raised.
        """
        return await self.call(self._write, action, body)

    async def read(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query, run on the database thread.

        Raises:
            StoreUnavailable: the database cannot be read right now, or is not open.
            StoreError: any other database failure.
        """
        return await self.call(self._read, action, sql, params)

    def _write(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        self._check_file()
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error as exc:
                        log.warning("hot store %s: rollback failed: %s", self.path, exc)
                raise
        except sqlite3.Error as exc:
            err = map_sqlite_error(exc, self.path, action)
            # A write that failed may have failed because the file went away underneath.
            if not isinstance(err, StoreUnavailable) and self._file_identity() != self._identity:
                err = StoreUnavailable(f"hot store {self.path}: the database file was removed")
            raise err from exc
        return out

    def _read(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._connection().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise map_sqlite_error(exc, self.path, action) from exc
