"""What ``summary``, ``explain-alert``, ``trend`` and ``report`` share: the narrator options, one
run (open the sources, gather facts, narrate them), the JSON document and the printed text.

Each command keeps only what is its own: its flags, which facts it gathers, which question it
asks the narrator and how its text is laid out (``nephos.insights.render`` and ``.report``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from nephos.cli.common import print_json, require_openable_hot_store
from nephos.clock import SystemClock
from nephos.errors import UsageError

if TYPE_CHECKING:
    from nephos.config.types import Config
    from nephos.insights.gather import Sources
    from nephos.insights.narrators.base import Narration, Narrator
    from nephos.insights.runtime import NarratorOptions

__all__ = [
    "AnonymizeOption",
    "JsonOption",
    "NarratorOption",
    "NoCacheOption",
    "gather_and_narrate",
    "narration_document",
    "narrator_options",
    "print_answer",
    "print_text",
]

F = TypeVar("F")

NarratorOption = Annotated[
    str | None,
    typer.Option("--narrator", help="template, cortex or openai (default: insights.narrator)."),
]
"""``--narrator``: which narrator phrases the facts, over the config's ``insights.narrator``."""
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Ask the model again instead of reusing its answer.")
]
"""``--no-cache``: ask a model narrator again rather than reuse its cached answer."""
AnonymizeOption = Annotated[
    bool | None,
    typer.Option(
        "--anonymize/--no-anonymize",
        help="Hide names, hostnames, IPs and ids from the model (default: insights.anonymize).",
        show_default=False,
    ),
]
"""``--anonymize/--no-anonymize``: over the config's ``insights.anonymize``."""
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
"""``--json``: print the narration, its provenance and its facts as one JSON document."""

_NARRATORS = ("template", "cortex", "openai")
_HEADING = re.compile(r"^(?:[A-Z][A-Z ]+[A-Z]|HEALTH STATUS|URGENCY|ALERT)\b")


def narrator_options(
    narrator: str | None, no_cache: bool, anonymize: bool | None
) -> NarratorOptions:
    """The insights options of a command, checked.

    Raises:
        UsageError: ``--narrator`` names no narrator.
    """
    from nephos.insights.runtime import NarratorOptions

    if narrator is not None and narrator not in _NARRATORS:
        raise UsageError(f"--narrator: {narrator!r} is not one of {', '.join(_NARRATORS)}")
    return NarratorOptions(narrator=narrator, no_cache=no_cache, anonymize=anonymize)


async def gather_and_narrate(
    config: Config,
    options: NarratorOptions,
    *,
    gather: Callable[[Sources], Awaitable[F]],
    ask: Callable[[Narrator, F], Awaitable[Narration[Any]]],
    warehouse: bool = True,
) -> tuple[F, Narration[Any]]:
    """Gather the facts from the configured sources, then have the narrator phrase them.

    The sources are closed before the narrator is asked: a model can take seconds to answer,
    and the stores need not stay open for it.

    Args:
        config: the validated configuration.
        options: the command line's narrator options.
        gather: builds the facts from the open sources.
        ask: the narrator's question about those facts (``summarize``, ``explain``...).
        warehouse: also open the warehouse (history); without it history is the hot store's.

    Raises:
        StoreError: the hot store's path can never be opened, or the store cannot be read
            (exit 4). A store that is not there yet is not an error: the facts say so.
        ConfigError: the narrator's settings are invalid.
    """
    from nephos.insights.gather import open_sources
    from nephos.insights.runtime import narrate, open_narrator

    require_openable_hot_store(config)
    clock = SystemClock()
    async with open_sources(config, clock=clock, warehouse=warehouse) as src:
        facts = await gather(src)
    async with open_narrator(config, clock=clock, options=options) as narrator:
        narration = await narrate(narrator, lambda n: ask(n, facts))
    return facts, narration


def narration_document(narration: Narration[Any], facts: object, **first: object) -> dict[str, Any]:
    """The ``--json`` document: ``first``, the narrator's sections, ``meta`` and ``facts``."""
    from nephos.insights.facts import facts_dict

    return {
        **first,
        **narration.document.model_dump(),
        "meta": narration.meta(),
        "facts": facts_dict(facts),
    }


def print_text(text: str) -> None:
    """Print ``text``: headings in bold on a terminal, plain (no escape codes) elsewhere."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    for line in text.rstrip("\n").split("\n"):
        style = "bold" if _HEADING.match(line) else None
        if line.startswith(("note:", "written by", "tokens:")):
            style = "dim"
        console.print(line, markup=False, emoji=False, style=style)


def print_answer(document: dict[str, Any], text: str, *, json_out: bool) -> None:
    """Print the JSON ``document`` with ``--json``, else ``text``."""
    if json_out:
        print_json(document)
    else:
        print_text(text)
