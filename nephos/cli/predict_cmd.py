"""``nephos predict``: which capacity metrics are on course to cross their threshold, and when.

Reads the window from the warehouse when one holds data (``--source warehouse``), else from
the hot store; prints a table or JSON. Exits 0 when done, 3 on a bad flag, 4 when the chosen
backend cannot be reached.
"""

from __future__ import annotations

import asyncio
import enum
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nephos.cli.common import (
    duration_flag,
    opened_hot_store,
    opened_warehouse,
    print_json,
    require_warehouse,
    table_console,
    warehouse_exists,
)
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.cli.status_cmd import require_store
from nephos.clock import SystemClock
from nephos.config.types import Config
from nephos.config.values import format_duration
from nephos.model import to_dict

if TYPE_CHECKING:
    # The forecast modules load numpy: imported when `nephos predict` runs, not at --help.
    from nephos.analytics.forecast import Forecast

__all__ = ["Source", "register", "render", "to_json"]


class Source(enum.StrEnum):
    """Where the history comes from."""

    AUTO = "auto"
    WAREHOUSE = "warehouse"
    STORE = "store"


async def _from_warehouse(
    config: Config, *, now: datetime, horizon: timedelta, window: timedelta
) -> list[Forecast]:
    from nephos.analytics.forecast import Thresholds
    from nephos.analytics.forecast_batch import predict_batch

    async with opened_warehouse(config, SystemClock()) as warehouse:
        return await predict_batch(
            warehouse,
            horizon=horizon,
            window=window,
            now=now,
            thresholds=Thresholds.from_config(config),
        )


async def _from_store(
    config: Config, *, now: datetime, horizon: timedelta, window: timedelta
) -> list[Forecast]:
    from nephos.analytics.forecast import Thresholds
    from nephos.analytics.forecast_batch import predict_from_store

    async with opened_hot_store(config, SystemClock()) as store:
        return await predict_from_store(
            store,
            now=now,
            horizon=horizon,
            window=window,
            thresholds=Thresholds.from_config(config),
        )


def to_json(
    forecasts: list[Forecast], *, now: datetime, horizon: timedelta, window: timedelta
) -> dict[str, Any]:
    """The ``--json`` document."""
    return {
        "made_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "horizon_hours": horizon.total_seconds() / 3600.0,
        "window_hours": window.total_seconds() / 3600.0,
        "forecasts": [to_dict(f) for f in forecasts],
    }


def render(forecasts: list[Forecast], console: Console, *, horizon: timedelta) -> None:
    """Print ``forecasts`` as a table, soonest first, or say that there are none."""
    from nephos.analytics.forecast_alert import (
        format_hours,
        format_interval,
        format_level,
        metric_label,
    )

    if not forecasts:
        console.print(
            "no capacity metric is on course to cross its threshold within "
            + format_duration(horizon)
        )
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("metric", "resource", "current", "threshold", "crosses in", "interval"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column("fit", no_wrap=True, justify="right")
    table.add_column("method", no_wrap=True)
    for f in forecasts:
        table.add_row(
            escape(metric_label(f.metric)),
            escape(f.resource),
            format_level(f.current, f.unit),
            format_level(f.threshold, f.unit),
            format_hours(f.hours_to_threshold),
            format_interval(f.earliest_hours, f.latest_hours),
            f"R² {f.r2:.2f}",
            f.method.value,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``nephos predict`` to ``app``."""

    @app.command("predict")
    def predict(
        config: ConfigOption = None,
        horizon: Annotated[
            str, typer.Option("--horizon", help="How far ahead to look, e.g. 48h, 7d.")
        ] = "48h",
        window: Annotated[
            str, typer.Option("--window", help="How much history to fit, e.g. 3d.")
        ] = "3d",
        source: Annotated[
            Source,
            typer.Option(
                "--source",
                help="History from the warehouse, the hot store, or auto (the warehouse "
                "when it exists).",
            ),
        ] = Source.AUTO,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> int:
        """Forecasts: which capacity metrics cross their threshold within the horizon, and when."""
        ahead = duration_flag("--horizon", horizon)
        history = duration_flag("--window", window)
        cfg = load_cli_config(config)
        now = datetime.now(UTC)
        use_warehouse = source is Source.WAREHOUSE or (
            source is Source.AUTO and warehouse_exists(cfg)
        )
        if use_warehouse:
            require_warehouse(cfg)  # --source warehouse with nothing loaded yet
        else:
            require_store(cfg)
        read = _from_warehouse if use_warehouse else _from_store
        forecasts = asyncio.run(read(cfg, now=now, horizon=ahead, window=history))
        if json_out:
            print_json(to_json(forecasts, now=now, horizon=ahead, window=history))
        else:
            render(forecasts, table_console(), horizon=ahead)
        return 0
