"""``nephos anomalies``: anomaly episodes in the warehouse, and ``score`` for any CSV.

``nephos anomalies [--since 24h] [--json]`` runs batch detection over the configured
warehouse and prints one row per episode. ``nephos anomalies score FILE.csv [--output OUT]``
runs the online detector over a ``timestamp,value`` CSV and writes
``timestamp,value,anomaly_score``; it needs no config. Thin: the work is in
``nephos.analytics``. Exit codes: 0 done, 3 a bad flag or input, 4 the warehouse unreachable.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nephos.cli.common import duration_flag, opened_warehouse, print_json, require_warehouse
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.clock import SystemClock
from nephos.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import IO

    from nephos.analytics.anomaly_batch import Anomaly
    from nephos.analytics.anomaly_csv import CsvPoint

__all__ = ["anomalies_app", "register"]

anomalies_app = typer.Typer(
    name="anomalies",
    help="Detect anomalies in the warehouse; score any timestamp,value CSV.",
    invoke_without_command=True,
)


def _rows(anomalies: list[Anomaly]) -> list[dict[str, Any]]:
    from nephos.model import to_dict

    return [to_dict(a) for a in anomalies]


_KIND_WORDS = {
    "sustained_rise": "rise",
    "latency_degradation": "slower",
    "level_shift": "shift",
}


def _kind_word(a: Anomaly) -> str:
    if a.kind.value == "spike":
        return "spike" if a.direction >= 0 else "dip"
    return _KIND_WORDS.get(a.kind.value, a.kind.value)


def _table(anomalies: list[Anomaly]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if not anomalies:
        console.print("no anomalies")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("STARTED", no_wrap=True)
    table.add_column("SERIES", overflow="fold")
    for column in ("KIND", "SEV"):
        table.add_column(column, no_wrap=True)
    for column in ("VALUE", "NORMAL", "Z", "CONF"):
        table.add_column(column, no_wrap=True, justify="right")
    for a in anomalies:
        critical = a.severity.value == "critical"
        table.add_row(
            a.started_at.strftime("%m-%d %H:%M"),
            escape(a.series.label),
            _kind_word(a),
            "[red]✕ crit[/]" if critical else "[yellow]▲ warn[/]",
            f"{a.peak_value:.4g}",
            f"{a.baseline:.4g}",
            f"{a.deviation:+.1f}",
            f"{a.confidence:.0%}",
        )
    console.print(table)


@anomalies_app.callback()
def anomalies(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Look back this far, e.g. 24h, 90m, 7d.")
    ] = "24h",
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Anomaly episodes found in the warehouse (``score`` scores a CSV instead)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"json": as_json}  # `nephos anomalies --json score F` means score --json
        return
    from nephos.analytics.anomaly_batch import detect_batch

    window = duration_flag("--since", since)
    cfg = load_cli_config(config)
    clock = SystemClock()
    require_warehouse(cfg)

    async def main() -> list[Anomaly]:
        async with opened_warehouse(cfg, clock) as warehouse:
            return await detect_batch(warehouse, clock.now() - window, clock=clock)

    found = asyncio.run(main())
    if as_json:
        print_json(_rows(found))
    else:
        _table(found)


def _write_json(scored: Iterable[tuple[CsvPoint, float]], out: IO[str]) -> int:
    """Write the scores as one JSON array, times in RFC 3339 UTC; the number of rows."""
    rows = [
        {
            "timestamp": p.ts.isoformat().replace("+00:00", "Z"),
            "value": p.value,
            "anomaly_score": round(score, 4),
        }
        for p, score in scored
    ]
    out.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    return len(rows)


@anomalies_app.command("score")
def score(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="A timestamp,value CSV.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here instead of standard output."),
    ] = None,
    unit: Annotated[
        str, typer.Option("--unit", help="The values' unit (percent, ms, ...): it sets floors.")
    ] = "",
    metric: Annotated[
        str, typer.Option("--metric", help="The metric's name (cpu, memory, latency, ...).")
    ] = "",
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Write a JSON array of {timestamp, value, anomaly_score}."),
    ] = False,
) -> None:
    """Score every row of FILE.csv from it and the rows before it only, as production would."""
    from nephos.analytics.anomaly import SeriesKey
    from nephos.analytics.anomaly_csv import read_points, score_points, write_scores

    points = read_points(file)
    series = SeriesKey("csv", metric or file.stem, unit)
    scored = score_points(points, series)
    parent = ctx.obj if isinstance(ctx.obj, dict) else {}
    write = _write_json if as_json or parent.get("json") else write_scores
    if output is None:
        write(scored, sys.stdout)
        return
    try:
        with output.open("w", newline="", encoding="utf-8") as out:
            n = write(scored, out)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    typer.echo(f"scored {n} rows into {output}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``nephos anomalies`` to ``app``."""
    app.add_typer(anomalies_app, name="anomalies")
