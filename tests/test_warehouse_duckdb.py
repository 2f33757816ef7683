"""What only the DuckDB backend does: a file that persists, one writer, the registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nephos.config.types import WarehouseConfig
from nephos.errors import ConfigError, WarehouseError
from nephos.model import Event, EventKind, MetricPoint, to_dict
from nephos.warehouse import open_warehouse
from nephos.warehouse.duckdb import DuckDBWarehouse
from nephos.warehouse.sql_loader import SqlLibrary
from tests.warehouse_seed import SEED_NOW


def _event(seq: int) -> Event:
    point = MetricPoint("vm-1", "cpu", "pct", SEED_NOW, 1.5, "aws")
    return Event(seq=seq, kind=EventKind.METRIC, ts=SEED_NOW, data=to_dict(point))


async def test_reopening_the_file_keeps_rows_and_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "wh.duckdb"
    first = DuckDBWarehouse(path)
    await first.open()
    await first.load_events([_event(1), _event(2)])
    await first.set_checkpoint("etl", 2)
    await first.close()
    again = DuckDBWarehouse(path)
    await again.open()
    try:
        assert await again.load_events([_event(2), _event(3)]) == 1
        assert await again.get_checkpoint("etl") == 2
    finally:
        await again.close()


async def test_a_file_held_by_another_process_is_a_warehouse_error_that_says_so(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wh.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseError, match="another process has it open"):
            await DuckDBWarehouse(path).open()
    finally:
        holder.communicate("", timeout=30)


def test_the_registry_opens_the_backend_the_config_names(tmp_path: Path) -> None:
    wh = open_warehouse(WarehouseConfig(backend="duckdb", path=str(tmp_path / "w.duckdb")))
    assert isinstance(wh, DuckDBWarehouse)
    assert wh.name == "duckdb"


def test_the_registry_rejects_an_unknown_backend_naming_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown warehouse backend 'bigquery'.*duckdb, snowflake"
    ):
        open_warehouse(WarehouseConfig(backend="bigquery"))


async def test_a_schema_that_fails_to_create_leaves_the_warehouse_closed(tmp_path: Path) -> None:
    (tmp_path / "sql" / "ddl").mkdir(parents=True)
    (tmp_path / "sql" / "ddl" / "010_bad.sql").write_text(
        "CREATE TABLE t (x INTEGER REFERENCES nowhere (y));\n"
    )
    wh = DuckDBWarehouse(tmp_path / "wh.duckdb", library=SqlLibrary(tmp_path / "sql"))
    with pytest.raises(WarehouseError, match="cannot create the schema"):
        await wh.open()
    with pytest.raises(WarehouseError, match="not open"):
        await wh.get_checkpoint("etl")


def test_sql_that_does_not_parse_is_one_clean_line() -> None:
    from nephos.warehouse.sql_binds import to_duckdb

    with pytest.raises(WarehouseError) as info:
        to_duckdb("CREATE TABLE t (x NO_SUCH_TYPE)")
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
