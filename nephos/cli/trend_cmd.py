"""``nephos trend METRIC [--instance I] [--window 7d] [--json]``: a metric's trend in words, with a
chart in the terminal.

Every series of the metric in the window is fitted (slope per hour, R², change on the window
before); the chart shows the named instance, or the steepest series. ``cpu``, ``memory``,
``disk`` and ``latency`` stand for ``cpu_percent``, ``mem_percent``, ``disk_percent`` and
``latency_ms``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nephos.cli.common import require_openable_hot_store
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.cli.summary_cmd import (
    AnonymizeOption,
    NarratorOption,
    NoCacheOption,
    duration_option,
    narrator_options,
    print_text,
)
from nephos.clock import SystemClock

if TYPE_CHECKING:
    from nephos.insights.runtime import NarratorOptions

__all__ = ["METRIC_ALIASES", "register"]

METRIC_ALIASES = {
    "cpu": "cpu_percent",
    "memory": "mem_percent",
    "mem": "mem_percent",
    "disk": "disk_percent",
    "latency": "latency_ms",
}
"""Short names for the common metrics."""


async def _trend(
    config_path: str | None,
    metric: str,
    instance: str | None,
    window: timedelta,
    options: NarratorOptions,
) -> tuple[dict[str, Any], str]:
    from nephos.insights.charts import terminal_chart
    from nephos.insights.facts import facts_dict
    from nephos.insights.gather import open_sources, trend_facts
    from nephos.insights.render import trend_text
    from nephos.insights.runtime import narrate, open_narrator

    cfg = load_cli_config(config_path)
    require_openable_hot_store(cfg)
    clock = SystemClock()
    async with open_sources(cfg, clock=clock) as src:
        facts = await trend_facts(
            src, metric, now=datetime.now(UTC), window=window, instance=instance
        )
    async with open_narrator(cfg, clock=clock, options=options) as narrator:
        narration = await narrate(narrator, lambda n: n.describe_trend(facts))
    unit = facts.series[0].unit if facts.series else ""
    chart = terminal_chart(facts.chart, unit=unit)
    if chart and facts.chart_resource:
        chart = f"{facts.chart_resource} · {metric}\n{chart}"
    document = {
        **narration.document.model_dump(),
        "meta": narration.meta(),
        "facts": facts_dict(facts),
    }
    return document, trend_text(narration, chart)


def register(app: typer.Typer) -> None:
    """Add ``nephos trend`` to ``app``."""

    @app.command("trend")
    def trend(
        metric: Annotated[str, typer.Argument(help="cpu_percent, mem_percent, latency_ms, ...")],
        config: ConfigOption = None,
        instance: Annotated[
            str | None,
            typer.Option("--instance", help="One instance or target (default: every one)."),
        ] = None,
        window: Annotated[str, typer.Option("--window", help="How far back, e.g. 24h, 7d.")] = "7d",
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        narrator: NarratorOption = None,
        no_cache: NoCacheOption = False,
        anonymize: AnonymizeOption = None,
    ) -> int:
        """A metric's trend in plain words, with a chart."""
        name = METRIC_ALIASES.get(metric.lower(), metric)
        span = duration_option("--window", window)
        options = narrator_options(narrator, no_cache, anonymize)
        document, text = asyncio.run(_trend(config, name, instance, span, options))
        if json_out:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
        else:
            print_text(text)
        return 0
