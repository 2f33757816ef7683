"""Warehouses for tests: a DuckDB file and Snowflake on fakesnow, opened outside any event loop.

The backends run their driver on a thread of their own, so one opened here serves async tests
on any loop. ``fakesnow.patch()`` swaps ``snowflake.connector.connect`` for an in-process
double backed by DuckDB; it stays active while the returned context is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

from nephos.warehouse.duckdb import DuckDBWarehouse
from nephos.warehouse.snowflake import SnowflakeWarehouse

__all__ = ["FAKESNOW_SETTINGS", "duckdb_warehouse", "fakesnow_warehouse"]

FAKESNOW_SETTINGS = {
    "account": "fakesnow",
    "user": "nephos",
    "password": "not-a-secret",
    "database": "nephos",
    "schema": "history",
}


@contextlib.contextmanager
def duckdb_warehouse(path: Path) -> Iterator[DuckDBWarehouse]:
    """An open DuckDB warehouse in ``path``, closed on exit."""
    wh = DuckDBWarehouse(path)
    asyncio.run(wh.open())
    try:
        yield wh
    finally:
        asyncio.run(wh.close())


@contextlib.contextmanager
def fakesnow_warehouse(db_path: Path | None = None) -> Iterator[SnowflakeWarehouse]:
    """An open Snowflake warehouse on fakesnow (persisted in ``db_path`` if given)."""
    import fakesnow

    with warnings.catch_warnings():
        # fakesnow copies Arrow results once more than DuckDB would like; harmless here.
        warnings.simplefilter("ignore", UserWarning)
        patch = fakesnow.patch(db_path=str(db_path)) if db_path else fakesnow.patch()
        with patch:
            wh = SnowflakeWarehouse(FAKESNOW_SETTINGS)
            asyncio.run(wh.open())
            try:
                yield wh
            finally:
                asyncio.run(wh.close())
