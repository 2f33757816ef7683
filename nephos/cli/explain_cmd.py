"""``nephos explain-alert ID [--json]``: one alert in plain words.

WHAT THIS MEANS, WHY IT HAPPENED (what was observed, apart from the likely causes, ranked),
ACTION TO TAKE (numbered) and URGENCY n/10 with its reason, for sentinel, instance,
certificate, anomaly and forecast alerts. An unknown id is one line on stderr and exit 3.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nephos.cli.common import require_openable_hot_store
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.cli.summary_cmd import (
    AnonymizeOption,
    NarratorOption,
    NoCacheOption,
    narrator_options,
    print_text,
)
from nephos.clock import SystemClock

if TYPE_CHECKING:
    from nephos.insights.runtime import NarratorOptions

__all__ = ["register"]


async def _explain(
    config_path: str | None, alert_id: str, options: NarratorOptions
) -> tuple[dict[str, Any], str]:
    from nephos.insights.facts import facts_dict
    from nephos.insights.gather import open_sources
    from nephos.insights.gather_alert import alert_facts
    from nephos.insights.render import explanation_text
    from nephos.insights.runtime import narrate, open_narrator

    cfg = load_cli_config(config_path)
    require_openable_hot_store(cfg)
    clock = SystemClock()
    async with open_sources(cfg, clock=clock, warehouse=False) as src:
        facts = await alert_facts(src, alert_id, now=datetime.now(UTC))
    async with open_narrator(cfg, clock=clock, options=options) as narrator:
        narration = await narrate(narrator, lambda n: n.explain(facts))
    document = {
        "alert": alert_id,
        **narration.document.model_dump(),
        "meta": narration.meta(),
        "facts": facts_dict(facts),
    }
    return document, explanation_text(narration, facts.alert)


def register(app: typer.Typer) -> None:
    """Add ``nephos explain-alert`` to ``app``."""

    @app.command("explain-alert")
    def explain_alert(
        alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert's id (al-...).")],
        config: ConfigOption = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        narrator: NarratorOption = None,
        no_cache: NoCacheOption = False,
        anonymize: AnonymizeOption = None,
    ) -> int:
        """Explain one alert: what it means, why it happened, what to do, how urgent."""
        options = narrator_options(narrator, no_cache, anonymize)
        document, text = asyncio.run(_explain(config, alert_id.strip(), options))
        if json_out:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
        else:
            print_text(text)
        return 0
