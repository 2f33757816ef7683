"""``nephos etl run`` as a process: --once, tailing until SIGTERM, a locked warehouse at start,
and the exit code when the hot store cannot be opened."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from nephos.clock import ManualClock
from nephos.store.sqlite import SqliteHotStore
from tests.etl_support import commit_mix, duckdb_warehouse, warehouse_counts


def write_config(tmp_path: Path, hot: Path) -> Path:
    config = tmp_path / "nephos.yaml"
    config.write_text(
        f"storage:\n  hot: {{backend: sqlite, path: {hot}}}\n"
        f"  warehouse: {{backend: duckdb, path: {tmp_path / 'wh.duckdb'}}}\n"
    )
    return config


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=ManualClock())
    await hot.open()
    yield hot
    await hot.close()


async def nephos(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(proc: asyncio.subprocess.Process, needle: str) -> str:
    """Read the process's log lines until one contains ``needle``; that line."""
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert line, f"the process exited before logging {needle!r}"
        if needle in line:
            return line


async def hold_duckdb_lock(path: Path) -> asyncio.subprocess.Process:
    """Another process holding the DuckDB file open (DuckDB allows one writer per file)."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); "
        "sys.stdin.read()",
        str(path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
    return holder


async def release(holder: asyncio.subprocess.Process) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    await asyncio.wait_for(holder.wait(), 30)


async def test_once_with_json_loads_everything_and_prints_the_report(
    tmp_path: Path, store: SqliteHotStore
) -> None:
    await commit_mix(store, ManualClock(), results=30, metrics=20)
    config = write_config(tmp_path, Path(store.path))

    proc = await nephos("etl", "run", "--once", "--json", "-c", str(config))
    out, err = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 0, err
    report = json.loads(out)
    assert (report["events"], report["loaded"], report["missing"]) == (50, 50, 0)
    assert report["lag"]["events"] == 0 and report["lag"]["checkpoint"] == 50


async def test_once_takes_its_batch_size_from_the_config_unless_the_flag_says_otherwise(
    tmp_path: Path, store: SqliteHotStore
) -> None:
    await commit_mix(store, ManualClock(), results=30, metrics=20)
    config = write_config(tmp_path, Path(store.path))
    config.write_text(config.read_text() + "etl:\n  batch_size: 20\n")

    proc = await nephos("etl", "run", "--once", "--json", "-c", str(config))
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert json.loads(out)["batches"] == 3  # 50 events, 20 a load

    await commit_mix(store, ManualClock(), results=10, metrics=0)
    proc = await nephos("etl", "run", "--once", "--json", "--batch-size", "5", "-c", str(config))
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert json.loads(out)["batches"] == 2  # 10 new events, 5 a load


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_run_tails_new_commits_serves_its_lag_and_exits_0_on_sigterm(
    tmp_path: Path, store: SqliteHotStore
) -> None:
    clock = ManualClock()
    first = await commit_mix(store, clock, results=40, metrics=10)
    config = write_config(tmp_path, Path(store.path))
    port = free_port()
    proc = await nephos("etl", "run", "-v", "--metrics-port", str(port), "-c", str(config))
    await read_until(proc, f"checkpoint {first}")

    last = await commit_mix(store, clock, results=7, metrics=3)  # from another process
    await read_until(proc, f"checkpoint {last}")
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)

    assert proc.returncode == 0, err
    assert "loaded 60 events (60 new)" in out.decode()
    assert f'nephos_etl_checkpoint_seq{{consumer="etl"}} {float(last)}' in metrics
    assert 'nephos_etl_lag_events{consumer="etl"}' in metrics


async def test_a_locked_warehouse_at_start_is_retried_not_fatal(
    tmp_path: Path, store: SqliteHotStore
) -> None:
    last = await commit_mix(store, ManualClock(), results=5, metrics=5)
    config = write_config(tmp_path, Path(store.path))
    holder = await hold_duckdb_lock(tmp_path / "wh.duckdb")
    try:
        proc = await nephos("etl", "run", "-v", "-c", str(config))
        line = await read_until(proc, "unreachable")
    finally:
        await release(holder)
    assert "WARNING" in line and "another process has it open" in line

    await read_until(proc, f"checkpoint {last}")
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 30)

    assert proc.returncode == 0, err
    warehouse = duckdb_warehouse(tmp_path / "wh.duckdb")
    try:
        assert (await warehouse_counts(warehouse))["events"] == 10
    finally:
        await warehouse.close()


async def test_once_exits_4_when_the_warehouse_is_locked(
    tmp_path: Path, store: SqliteHotStore
) -> None:
    await commit_mix(store, ManualClock(), results=2, metrics=0)
    config = write_config(tmp_path, Path(store.path))
    holder = await hold_duckdb_lock(tmp_path / "wh.duckdb")
    try:
        proc = await nephos("etl", "run", "--once", "-c", str(config))
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await release(holder)

    assert proc.returncode == 4
    assert err.decode().startswith("nephos: warehouse ")


async def test_exits_4_when_the_hot_store_cannot_be_opened(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's folder should be")
    config = write_config(tmp_path, blocker / "hot.db")

    proc = await nephos("etl", "run", "-c", str(config))
    _, err = await asyncio.wait_for(proc.communicate(), 60)

    assert proc.returncode == 4
    assert err.decode().startswith("nephos: hot store ")
