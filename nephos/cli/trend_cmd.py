"""``nephos trend METRIC [--instance I] [--window 7d] [--json]``: a metric's trend in words, with a
chart in the terminal.

Every series of the metric in the window is fitted (slope per hour, R², change on the window
before); the chart shows the named instance, or the steepest series. ``cpu``, ``memory``,
``disk`` and ``latency`` stand for ``cpu_percent``, ``mem_percent``, ``disk_percent`` and
``latency_ms``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nephos.cli.common import duration_flag
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.cli.insights_common import (
    AnonymizeOption,
    JsonOption,
    NarratorOption,
    NoCacheOption,
    gather_and_narrate,
    narration_document,
    narrator_options,
    print_answer,
)

if TYPE_CHECKING:
    from nephos.config.types import Config
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
    config: Config,
    metric: str,
    instance: str | None,
    window: timedelta,
    options: NarratorOptions,
) -> tuple[dict[str, Any], str]:
    from nephos.insights.charts import terminal_chart
    from nephos.insights.gather import trend_facts
    from nephos.insights.render import trend_text

    now = datetime.now(UTC)
    facts, narration = await gather_and_narrate(
        config,
        options,
        gather=lambda src: trend_facts(src, metric, now=now, window=window, instance=instance),
        ask=lambda narrator, f: narrator.describe_trend(f),
    )
    unit = facts.series[0].unit if facts.series else ""
    chart = terminal_chart(facts.chart, unit=unit)
    if chart and facts.chart_resource:
        chart = f"{facts.chart_resource} · {metric}\n{chart}"
    return narration_document(narration, facts), trend_text(narration, chart)


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
        json_out: JsonOption = False,
        narrator: NarratorOption = None,
        no_cache: NoCacheOption = False,
        anonymize: AnonymizeOption = None,
    ) -> int:
        """A metric's trend in plain words, with a chart."""
        name = METRIC_ALIASES.get(metric.lower(), metric)
        span = duration_flag("--window", window)
        options = narrator_options(narrator, no_cache, anonymize)
        cfg = load_cli_config(config)
        document, text = asyncio.run(_trend(cfg, name, instance, span, options))
        print_answer(document, text, json_out=json_out)
        return 0
