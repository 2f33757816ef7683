"""Exactly once across crashes: ``nephos etl run`` is SIGKILLed between a load and its
checkpoint, then run again; every event is in the warehouse once, none is missing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from nephos.clock import ManualClock
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.etl import CRASH_AFTER_LOAD_ENV
from tests.etl_support import checkpoint_of, commit_mix, duckdb_warehouse, warehouse_counts


async def etl_once(config: Path, *, crash_after: int | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_AFTER_LOAD_ENV}
    if crash_after is not None:
        env[CRASH_AFTER_LOAD_ENV] = str(crash_after)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        "etl",
        "run",
        "--once",
        "--batch-size",
        "100",
        "-c",
        str(config),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_process_killed_between_load_and_checkpoint_leaves_no_duplicate_and_no_gap(
    tmp_path: Path,
) -> None:
    hot, wh_path = tmp_path / "hot.db", tmp_path / "wh.duckdb"
    config = tmp_path / "nephos.yaml"
    config.write_text(
        f"storage:\n  hot: {{backend: sqlite, path: {hot}}}\n"
        f"  warehouse: {{backend: duckdb, path: {wh_path}}}\n"
    )
    clock = ManualClock()
    store = SqliteHotStore(str(hot), clock=clock)
    await store.open()
    last = await commit_mix(store, clock, results=600, metrics=400)
    await store.close()

    code, _, err = await etl_once(config, crash_after=3)

    assert code == -signal.SIGKILL, err
    warehouse = duckdb_warehouse(wh_path)
    try:
        # Three batches loaded, the third one's checkpoint never written.
        assert await checkpoint_of(warehouse) == 200
        assert (await warehouse_counts(warehouse))["events"] == 300
    finally:
        await warehouse.close()

    code, out, err = await etl_once(config)

    assert code == 0, err
    assert "loaded 800 events (700 new)" in out
    warehouse = duckdb_warehouse(wh_path)
    try:
        counts = await warehouse_counts(warehouse)
        assert counts["events"] == counts["distinct"] == last == 1000
        assert (counts["min"], counts["max"]) == (1, 1000)
        assert (counts["results"], counts["metrics"]) == (600, 400)
        assert await checkpoint_of(warehouse) == 1000
    finally:
        await warehouse.close()
