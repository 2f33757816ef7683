"""The ETL into the Snowflake backend on fakesnow: loads, checkpoints and an idempotent
reload after a lost checkpoint, as with DuckDB."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.errors import WarehouseError
from nephos.store.sqlite import SqliteHotStore
from nephos.warehouse.etl import Etl
from nephos.warehouse.snowflake import SnowflakeWarehouse
from tests.etl_support import FlakyWarehouse, checkpoint_of, commit_mix, warehouse_counts
from tests.warehouse_fixtures import FAKESNOW_SETTINGS


@pytest.fixture
def snowflake() -> Iterator[SnowflakeWarehouse]:
    """A Snowflake warehouse on fakesnow, unopened (the ETL opens it)."""
    import fakesnow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with fakesnow.patch():
            yield SnowflakeWarehouse(FAKESNOW_SETTINGS)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"), clock=ManualClock())
    await hot.open()
    yield hot
    await hot.close()


async def test_a_lost_checkpoint_on_snowflake_reloads_without_duplicates(
    store: SqliteHotStore, snowflake: SnowflakeWarehouse
) -> None:
    clock = ManualClock()
    last = await commit_mix(store, clock, results=30, metrics=20)
    flaky = FlakyWarehouse(snowflake, fail_checkpoints=1)
    try:
        with pytest.raises(WarehouseError):
            await Etl(store, flaky, clock=clock, batch_size=20).run_once()
        assert await checkpoint_of(snowflake) == 0

        report = await Etl(store, flaky, clock=clock, batch_size=20).run_once()

        assert (report.events, report.loaded) == (50, 30)  # the first batch was already there
        counts = await warehouse_counts(snowflake)
        assert counts["events"] == counts["distinct"] == 50
        assert (counts["results"], counts["metrics"]) == (30, 20)
        assert await checkpoint_of(snowflake) == last
    finally:
        await snowflake.close()
