"""``nephos summary [--quick] [--json]``: the fleet's health in plain words, and the options
every insights command shares (``--narrator``, ``--no-cache``, ``--anonymize``).

Facts come from the hot store (now) and the warehouse (the period); a narrator phrases them.
The exit code is the fleet's health (0 healthy, 1 degraded, 2 unhealthy).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from nephos.cli.common import require_openable_hot_store
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.clock import SystemClock
from nephos.config.values import parse_duration
from nephos.errors import ConfigError, UsageError
from nephos.model import Health

if TYPE_CHECKING:
    from nephos.insights.runtime import NarratorOptions

__all__ = [
    "AnonymizeOption",
    "NarratorOption",
    "NoCacheOption",
    "duration_option",
    "narrator_options",
    "print_text",
    "register",
]

NarratorOption = Annotated[
    str | None,
    typer.Option("--narrator", help="template, cortex or openai (default: insights.narrator)."),
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Ask the model again instead of reusing its answer.")
]
AnonymizeOption = Annotated[
    bool | None,
    typer.Option(
        "--anonymize/--no-anonymize",
        help="Hide names, hostnames, IPs and ids from the model (default: insights.anonymize).",
        show_default=False,
    ),
]
_HEADING = re.compile(r"^(?:[A-Z][A-Z ]+[A-Z]|HEALTH STATUS|URGENCY|ALERT)\b")


def duration_option(flag: str, text: str) -> timedelta:
    """A positive duration from the command line (``24h``, ``7d``).

    Raises:
        UsageError: it does not parse or is not positive.
    """
    try:
        value = parse_duration(text, allow_number=False)
    except ConfigError as exc:
        raise UsageError(f"{flag}: {exc.message}") from exc
    if value <= timedelta(0):
        raise UsageError(f"{flag}: must be longer than 0s")
    return value


def print_text(text: str) -> None:
    """Print ``text``: headings in bold on a terminal, plain (no escape codes) elsewhere."""
    console = Console(highlight=False, soft_wrap=True)
    for line in text.rstrip("\n").split("\n"):
        style = "bold" if _HEADING.match(line) else None
        if line.startswith(("note:", "written by", "tokens:")):
            style = "dim"
        console.print(line, markup=False, emoji=False, style=style)


def narrator_options(
    narrator: str | None, no_cache: bool, anonymize: bool | None
) -> NarratorOptions:
    """The insights options of a command, checked.

    Raises:
        UsageError: ``--narrator`` names no narrator.
    """
    from nephos.insights.runtime import NarratorOptions

    if narrator is not None and narrator not in ("template", "cortex", "openai"):
        raise UsageError(f"--narrator: {narrator!r} is not one of template, cortex, openai")
    return NarratorOptions(narrator=narrator, no_cache=no_cache, anonymize=anonymize)


async def _summary(
    config_path: str | None, period: timedelta, quick: bool, options: NarratorOptions
) -> tuple[dict[str, Any], str, Health]:
    from nephos.insights.facts import facts_dict
    from nephos.insights.gather import open_sources, summary_facts
    from nephos.insights.render import summary_text
    from nephos.insights.runtime import narrate, open_narrator

    cfg = load_cli_config(config_path)
    require_openable_hot_store(cfg)
    clock = SystemClock()
    now = datetime.now(UTC)
    async with open_sources(cfg, clock=clock, warehouse=not quick) as src:
        facts = await summary_facts(src, now=now, period=period, history=not quick)
    async with open_narrator(cfg, clock=clock, options=options) as narrator:
        narration = await narrate(narrator, lambda n: n.summarize(facts))
    health = Health(facts.health)
    if quick:
        document = {"quick": narration.document.quick, "meta": narration.meta()}
        return document, narration.document.quick + "\n", health
    document = {
        **narration.document.model_dump(),
        "meta": narration.meta(),
        "facts": facts_dict(facts),
    }
    return document, summary_text(narration), health


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
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        narrator: NarratorOption = None,
        no_cache: NoCacheOption = False,
        anonymize: AnonymizeOption = None,
    ) -> int:
        """Plain-language health summary: status, findings, actions, predictions, optimizations."""
        period = duration_option("--since", since)
        document, text, health = asyncio.run(
            _summary(config, period, quick, narrator_options(narrator, no_cache, anonymize))
        )
        if json_out:
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
        else:
            print_text(text)
        return health.exit_code
