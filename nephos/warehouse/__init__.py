"""The warehouse: history tables and analytics, in DuckDB (embedded) or Snowflake.

:func:`open_warehouse` picks the backend named in the config. Backends import their drivers
lazily, so importing this package stays cheap.
"""

from __future__ import annotations

from nephos.clock import Clock
from nephos.config.types import WarehouseConfig
from nephos.errors import ConfigError
from nephos.warehouse.base import Warehouse

__all__ = ["BACKENDS", "Warehouse", "open_warehouse"]

BACKENDS = ("duckdb", "snowflake")
"""The names ``storage.warehouse.backend`` accepts."""


def open_warehouse(cfg: WarehouseConfig, *, clock: Clock | None = None) -> Warehouse:
    """The warehouse backend that ``cfg`` names, not yet opened (call ``await wh.open()``).

    Raises:
        ConfigError: the backend is unknown, or its options are invalid.
    """
    if cfg.backend == "duckdb":
        from nephos.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(cfg.path, clock=clock)
    if cfg.backend == "snowflake":
        from nephos.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse.from_options(cfg.options, clock=clock)
    raise ConfigError(
        f"unknown warehouse backend {cfg.backend!r} (known: {', '.join(BACKENDS)})",
        path="storage.warehouse.backend",
    )
