"""The Warehouse base class: history and analytics, in DuckDB (embedded) or Snowflake.

The ETL loads change-feed events into the warehouse with :meth:`Warehouse.load_events`, which
is idempotent (MERGE on the event's ``seq``), so a batch loaded twice leaves no duplicate.
Analytics SQL is written once, in Snowflake's dialect, under ``snowflake/`` at the top of the
repository (shipped in the package as data); :meth:`Warehouse.query` runs a named statement,
and the DuckDB backend runs it transpiled with sqlglot. Blocking drivers run in a thread.
Every backend passes ``tests/test_warehouse_contract.py``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nephos.model import Event, MetricPoint

__all__ = ["Warehouse"]


class Warehouse(abc.ABC):
    """History tables (results, metrics, alerts, instances, events) and analytics over them.

    Raises of every method: :class:`nephos.errors.WarehouseError` (exit 4) when the warehouse
    cannot be reached or a statement fails.
    """

    name: ClassVar[str]
    """The backend's name in the config (``storage.warehouse.backend``)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, and create the schema when it is missing."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; idempotent."""

    @abc.abstractmethod
    async def load_events(self, events: Sequence[Event]) -> int:
        """Load events into their history tables and the events table, in one transaction.

        Idempotent: rows are merged on the event ``seq``, so loading the same events again
        changes nothing. Returns the number of events that were new.
        """

    @abc.abstractmethod
    async def load_metrics(self, points: Sequence[MetricPoint]) -> int:
        """Append metric points that did not come through the change feed (``seq`` NULL).

        The bulk path for backfills and benchmarks: not idempotent. Returns the number loaded.
        """

    @abc.abstractmethod
    async def get_checkpoint(self, name: str) -> int:
        """The last seq recorded for the named consumer (0 when none)."""

    @abc.abstractmethod
    async def set_checkpoint(self, name: str, seq: int) -> None:
        """Record ``seq`` for the named consumer; called only after a load has committed."""

    @abc.abstractmethod
    async def query(
        self, statement: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run a named analytics statement (``snowflake/analytics/<statement>.sql``).

        Parameters are bound, never interpolated. Rows come back as dicts keyed by lower-case
        column names.
        """

    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one Snowflake-dialect statement with positional (qmark) parameters."""
