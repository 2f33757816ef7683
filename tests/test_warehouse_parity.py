"""Every analytics statement in snowflake/analytics/ gives the same rows on DuckDB and fakesnow.

Both warehouses hold the same seeded events (tests/warehouse_seed.py). A statement's binds
take the seed's clock for ``:now`` and the defaults its ``-- @param`` lines declare (evaluated
as SQL); floats are compared with a relative tolerance. A new statement is checked by adding
its file: no test change is needed unless it has a bind without a default.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from nephos.warehouse.duckdb import DuckDBWarehouse
from nephos.warehouse.snowflake import SnowflakeWarehouse
from nephos.warehouse.sql_binds import bind_named
from nephos.warehouse.sql_loader import SqlLibrary, Statement
from tests.warehouse_fixtures import duckdb_warehouse, fakesnow_warehouse
from tests.warehouse_seed import SEED_NOW, seed_events

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")

ROOT = Path(__file__).resolve().parents[1] / "snowflake"
LIBRARY = SqlLibrary(ROOT)
REL_TOL = 1e-6
ABS_TOL = 1e-9


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBWarehouse]:
    with duckdb_warehouse(tmp_path_factory.mktemp("parity") / "wh.duckdb") as wh:
        wh.library = LIBRARY
        asyncio.run(wh.load_events(seed_events()))
        yield wh


@pytest.fixture(scope="module")
def snow() -> Iterator[SnowflakeWarehouse]:
    with fakesnow_warehouse() as wh:
        wh.library = LIBRARY
        asyncio.run(wh.load_events(seed_events()))
        yield wh


async def _params(stmt: Statement, duck: DuckDBWarehouse) -> dict[str, Any]:
    """``now`` from the seed; every other bind from its ``@example`` or ``@param`` default,
    evaluated as SQL."""
    values: dict[str, Any] = {"now": SEED_NOW}
    declared = {p.name: p for p in stmt.params}
    for name in dict.fromkeys(stmt.binds):
        if name in values:
            continue
        param = declared.get(name)
        value = stmt.examples.get(name) or (param.default if param else None)
        if param is None or value is None:
            pytest.fail(
                f"{stmt.name}: :{name} has no value to test with; add '-- @param {name} TYPE' "
                f"and '-- @example {name} = <SQL>' to snowflake/analytics/{stmt.name}.sql"
            )
        bound = bind_named(f"SELECT CAST({value} AS {param.type})", values)
        values[name] = (await duck.execute(bound.sql, bound.args))[0][0]
    return {k: v for k, v in values.items() if k in declared or k in stmt.binds}


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    """A sort key that tolerates float noise: floats to 6 significant digits."""
    return tuple(
        f"{v:.6g}"
        if isinstance(v, float)
        else (v.isoformat() if isinstance(v, datetime) else repr(v))
        for v in row.values()
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    return bool(a == b)


@pytest.mark.parametrize("name", LIBRARY.names())
async def test_statement_gives_the_same_rows_on_duckdb_and_fakesnow(
    name: str, duck: DuckDBWarehouse, snow: SnowflakeWarehouse
) -> None:
    stmt = LIBRARY.statement(name)
    params = await _params(stmt, duck)
    on_duck = await duck.query(name, params)
    on_snow = await snow.query(name, params)
    if on_duck and on_snow:
        assert list(on_duck[0]) == list(on_snow[0]), "column names differ"
    assert len(on_duck) == len(on_snow), (
        f"{len(on_duck)} rows on DuckDB, {len(on_snow)} on fakesnow"
    )
    for d_row, s_row in zip(sorted(on_duck, key=_key), sorted(on_snow, key=_key), strict=True):
        diffs = {k: (d_row[k], s_row.get(k)) for k in d_row if not _same(d_row[k], s_row.get(k))}
        assert not diffs, f"{name}: DuckDB vs fakesnow differ in {diffs} (row {d_row})"


async def test_seeded_statements_return_rows(duck: DuckDBWarehouse) -> None:
    """The framework's own statements find the seed's data (so parity is not vacuous)."""
    for name in ("metric_series", "target_availability", "alert_states"):
        rows = await duck.query(name, await _params(LIBRARY.statement(name), duck))
        assert rows, f"{name} returned no rows on the seed"
