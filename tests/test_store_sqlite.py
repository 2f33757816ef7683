"""What only the SQLite hot store does: the file, WAL, schema versions, locks, removal."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.config.types import HotStoreConfig
from nephos.errors import ConfigError, StoreError, StoreUnavailable
from nephos.store import open_hot_store
from nephos.store.sqlite import SqliteHotStore
from nephos.store.sqlite_schema import SCHEMA_VERSION, map_sqlite_error
from tests.test_store_contract import T0, result


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteHotStore]:
    s = SqliteHotStore(str(tmp_path / "hot.db"), clock=ManualClock(T0), busy_timeout=0.05)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_open_expands_home_and_creates_parent_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = SqliteHotStore("~/deep/er/hot.db")
    await s.open()
    await s.put_results([result()])
    await s.close()
    assert (tmp_path / "deep" / "er" / "hot.db").is_file()


async def test_database_is_in_wal_mode_at_the_current_schema_version(
    store: SqliteHotStore,
) -> None:
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_data_and_seq_survive_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "hot.db")
    first = SqliteHotStore(path)
    await first.open()
    seqs = await first.put_results([result("api", 1)])
    await first.close()
    second = SqliteHotStore(path)
    await second.open()
    assert [r.target for r in await second.results()] == ["api"]
    assert await second.latest_seq() == seqs[-1]
    assert (await second.put_results([result("api", 2)]))[0] == seqs[-1] + 1
    await second.close()


async def test_a_file_from_a_newer_nephos_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hot.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    s = SqliteHotStore(str(path))
    with pytest.raises(StoreError, match="upgrade nephos"):
        await s.open()
    await s.close()


async def test_a_file_that_is_not_a_database_is_a_store_error_not_an_outage(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hot.db"
    path.write_bytes(b"this is not a database, just some text" * 100)
    s = SqliteHotStore(str(path))
    with pytest.raises(StoreError) as caught:
        await s.open()
    assert not isinstance(caught.value, StoreUnavailable)
    await s.close()


async def test_a_write_blocked_by_another_connections_lock_is_unavailable(
    store: SqliteHotStore,
) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            await store.put_results([result()])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await store.put_results([result()]) == [1]


async def test_a_removed_database_file_is_unavailable_rather_than_written_to_nowhere(
    store: SqliteHotStore,
) -> None:
    await store.put_results([result()])
    for suffix in ("", "-wal", "-shm"):
        Path(store.path + suffix).unlink(missing_ok=True)
    with pytest.raises(StoreUnavailable, match="removed"):
        await store.put_results([result(at=1)])
    with pytest.raises(StoreUnavailable):
        await store.set_state("k", 1)


async def test_a_replaced_database_file_is_followed(tmp_path: Path, store: SqliteHotStore) -> None:
    await store.put_results([result("old")])
    restored = SqliteHotStore(str(tmp_path / "restore.db"))
    await restored.open()
    await restored.put_results([result("restored")])
    await restored.close()
    Path(store.path + "-wal").unlink(missing_ok=True)
    Path(store.path + "-shm").unlink(missing_ok=True)
    (tmp_path / "restore.db").replace(store.path)

    await store.put_results([result("new", 5)])

    assert sorted(r.target for r in await store.results()) == ["new", "restored"]


async def test_a_closed_store_is_unavailable(tmp_path: Path) -> None:
    s = SqliteHotStore(str(tmp_path / "hot.db"))
    await s.open()
    await s.close()
    await s.close()  # idempotent
    with pytest.raises(StoreUnavailable):
        await s.put_results([result()])


async def test_an_in_memory_store_works_for_demos() -> None:
    s = SqliteHotStore(":memory:")
    await s.open()
    assert await s.put_results([result()]) == [1]
    assert len(await s.latest_results()) == 1
    await s.close()


async def test_open_hot_store_builds_sqlite_with_its_options(tmp_path: Path) -> None:
    cfg = HotStoreConfig(path=str(tmp_path / "hot.db"), options={"busy_timeout": 0.5})
    s = open_hot_store(cfg)
    assert isinstance(s, SqliteHotStore)
    assert s.path == cfg.path


def test_open_hot_store_names_the_known_backends_for_an_unknown_one() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown hot store backend 'mongo' \(known: dynamodb, sqlite\)"
    ):
        open_hot_store(HotStoreConfig(backend="mongo"))


def test_open_hot_store_rejects_unknown_sqlite_options() -> None:
    with pytest.raises(ConfigError, match="table_name"):
        open_hot_store(HotStoreConfig(options={"table_name": "x"}))


def _error_of(conn: sqlite3.Connection, sql: str) -> sqlite3.Error:
    try:
        conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    raise AssertionError(f"{sql} did not fail")


def test_a_full_database_maps_to_unavailable(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "full.db")
    conn.execute("CREATE TABLE t (x TEXT)")
    page_count = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {page_count}")
    exc = _error_of(conn, "INSERT INTO t VALUES (zeroblob(100000))")
    assert isinstance(map_sqlite_error(exc, "full.db", "store"), StoreUnavailable)


def test_a_read_only_database_maps_to_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    exc = _error_of(conn, "INSERT INTO t VALUES (1)")
    assert isinstance(map_sqlite_error(exc, "ro.db", "store"), StoreUnavailable)


def test_a_constraint_violation_maps_to_a_plain_store_error(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.db")
    conn.execute("CREATE TABLE t (x PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    err = map_sqlite_error(_error_of(conn, "INSERT INTO t VALUES (1)"), "c.db", "store")
    assert type(err) is StoreError
    assert "cannot store" in str(err)
