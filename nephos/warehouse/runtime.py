"""What both warehouse backends share at run time: the thread that owns a blocking
connection, and one shape for result rows."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

__all__ = ["ConnectionThread", "as_dicts", "plain"]

T = TypeVar("T")


class ConnectionThread:
    """One thread that owns a blocking database connection; calls run there in order.

    DuckDB and the Snowflake connector are blocking, and their connections are safest used
    from one thread, so every call of a backend goes through here.
    """

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the connection's thread and wait for it without blocking."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def shutdown(self) -> None:
        """Stop the thread after the calls already queued."""
        self._pool.shutdown(wait=True)

    async def close_with(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` (closing the connection) on the thread, then stop the thread even if
        ``fn`` raised."""
        try:
            await self.call(fn)
        finally:
            self.shutdown()


FLOAT_DIGITS = 12
"""Significant digits kept of a float that comes out of the warehouse.

Parallel aggregation (DuckDB's threads, Snowflake's warehouses) adds floats in no fixed order,
so AVG or REGR_SLOPE over the same rows can differ in the last bits from run to run. Rounded
to 12 significant digits (far below anything nephos shows or decides on) the same data gives
the same figures, and so the same report, every time."""


def plain(value: Any) -> Any:
    """A database value as both backends return it: decimals of scale 0 as int, other decimals
    as float, floats to :data:`FLOAT_DIGITS` significant digits, TIMESTAMP_NTZ (naive, UTC by
    convention) as an aware UTC datetime."""
    if isinstance(value, float):
        return float(f"{value:.{FLOAT_DIGITS}g}")
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return float(f"{float(value):.{FLOAT_DIGITS}g}")
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def as_dicts(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows as dicts keyed by lower-case column name, values made :func:`plain`."""
    keys = [n.lower() for n in names]
    return [{k: plain(v) for k, v in zip(keys, row, strict=True)} for row in rows]
