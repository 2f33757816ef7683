"""``nephos explain-alert ID [--json]``: one alert in plain words.

WHAT THIS MEANS, WHY IT HAPPENED (what was observed, apart from the likely causes, ranked),
ACTION TO TAKE (numbered) and URGENCY n/10 with its reason, for sentinel, instance,
certificate, anomaly and forecast alerts. An unknown id is one line on stderr and exit 3.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

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

__all__ = ["register"]


async def _explain(
    config: Config, alert_id: str, options: NarratorOptions
) -> tuple[dict[str, Any], str]:
    from nephos.insights.gather_alert import alert_facts
    from nephos.insights.render import explanation_text

    facts, narration = await gather_and_narrate(
        config,
        options,
        gather=lambda src: alert_facts(src, alert_id, now=datetime.now(UTC)),
        ask=lambda narrator, f: narrator.explain(f),
        warehouse=False,
    )
    document = narration_document(narration, facts, alert=alert_id)
    return document, explanation_text(narration, facts.alert)


def register(app: typer.Typer) -> None:
    """Add ``nephos explain-alert`` to ``app``."""

    @app.command("explain-alert")
    def explain_alert(
        alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert's id (al-...).")],
        config: ConfigOption = None,
        json_out: JsonOption = False,
        narrator: NarratorOption = None,
        no_cache: NoCacheOption = False,
        anonymize: AnonymizeOption = None,
    ) -> int:
        """Explain one alert: what it means, why it happened, what to do, how urgent."""
        options = narrator_options(narrator, no_cache, anonymize)
        cfg = load_cli_config(config)
        document, text = asyncio.run(_explain(cfg, alert_id.strip(), options))
        print_answer(document, text, json_out=json_out)
        return 0
