"""``nephos summary [--quick] [--json]``: the fleet's health in plain words.

Facts come from the hot store (now) and the warehouse (the period); a narrator phrases them.
The exit code is the fleet's health (0 healthy, 1 degraded, 2 unhealthy).
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
from nephos.model import Health

if TYPE_CHECKING:
    from nephos.config.types import Config
    from nephos.insights.runtime import NarratorOptions

__all__ = ["register"]


async def _summary(
    config: Config, period: timedelta, quick: bool, options: NarratorOptions
) -> tuple[dict[str, Any], str, Health]:
    from nephos.insights.gather import summary_facts
    from nephos.insights.render import summary_text

    now = datetime.now(UTC)
    facts, narration = await gather_and_narrate(
        config,
        options,
        gather=lambda src: summary_facts(src, now=now, period=period, history=not quick),
        ask=lambda narrator, f: narrator.summarize(f),
        warehouse=not quick,
    )
    health = Health(facts.health)
    if quick:
        document = {"quick": narration.document.quick, "meta": narration.meta()}
        return document, narration.document.quick + "\n", health
    return narration_document(narration, facts), summary_text(narration), health


def register(app: typer.Typer) -> None:
    """Add ``nephos summary`` to ``app``."""

    @app.command("summary")
    def summary(
        config: ConfigOption = None,
        quick: Annotated[
            bool, typer.Option("--quick", help="One sentence of at most 200 characters.")
        ] = False,
        since: Annotated[
            str, typer.Option("--since", help="How far back findings and trends look.")
        ] = "24h",
        json_out: JsonOption = False,
        narrator: NarratorOption = None,
        no_cache: NoCacheOption = False,
        anonymize: AnonymizeOption = None,
    ) -> int:
        """Plain-language health summary: status, findings, actions, predictions, optimizations."""
        period = duration_flag("--since", since)
        options = narrator_options(narrator, no_cache, anonymize)
        cfg = load_cli_config(config)
        document, text, health = asyncio.run(_summary(cfg, period, quick, options))
        print_answer(document, text, json_out=json_out)
        return health.exit_code
