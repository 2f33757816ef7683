"""Choosing and running a narrator for a command: the config's ``insights`` section, the command
line's overrides, and the fallback to the template narrator when a model cannot answer.

A model narrator that fails (server down, no privilege, every model unavailable) never leaves
the user without an answer: the template narrator writes it, and the output carries a note
with the model's error, which says what to fix.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from nephos.clock import Clock
from nephos.config.types import Config
from nephos.errors import ConfigError
from nephos.insights.cache import AnswerCache
from nephos.insights.narrators.base import Narration, Narrator, NarratorError
from nephos.insights.narrators.template import TemplateNarrator

__all__ = ["DEFAULT_CACHE_DIR", "NarratorOptions", "narrate", "open_narrator"]

DEFAULT_CACHE_DIR = "~/.cache/nephos/insights"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NarratorOptions:
    """Command-line overrides of the ``insights`` section."""

    narrator: str | None = None
    no_cache: bool = False
    anonymize: bool | None = None


def _seconds(value: Any, default: float) -> float:
    if value is None:
        return default
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@contextlib.asynccontextmanager
async def open_narrator(
    config: Config, *, clock: Clock, options: NarratorOptions | None = None
) -> AsyncIterator[Narrator]:
    """The narrator the config (or ``options``) names, closed on exit.

    Raises:
        ConfigError: the narrator is unknown or its settings do not fit (cortex without a
            Snowflake warehouse).
        WarehouseError: cortex's Snowflake connection could not be opened.
    """
    options = options or NarratorOptions()
    settings: Mapping[str, Any] = config.insights
    name = options.narrator or str(settings.get("narrator", "template"))
    if name == "template":
        yield TemplateNarrator()
        return
    models = [str(m) for m in (settings.get("model"), *settings.get("fallback_models", ())) if m]
    cache = None
    if not options.no_cache and settings.get("cache", True):
        ttl = timedelta(seconds=_seconds(settings.get("cache_ttl"), 6 * 3600.0))
        cache = AnswerCache(str(settings.get("cache_dir", DEFAULT_CACHE_DIR)), ttl=ttl, clock=clock)
    common: dict[str, Any] = {
        "max_tokens": int(settings.get("max_tokens", 1024)),
        "cache": cache,
        "anonymize": bool(settings.get("anonymize", False))
        if options.anonymize is None
        else options.anonymize,
        "hidden_names": [t.name for t in config.targets],
    }
    narrator: Narrator
    if name == "openai":
        from nephos.insights.narrators.openai import DEFAULT_BASE_URL, OpenAINarrator

        narrator = OpenAINarrator(
            models=models,
            base_url=str(settings.get("base_url", DEFAULT_BASE_URL)),
            api_key=settings.get("api_key"),
            timeout=_seconds(settings.get("timeout"), 60.0),
            retries=int(settings.get("retries", 2)),
            clock=clock,
            **common,
        )
        try:
            yield narrator
        finally:
            await narrator.close()
        return
    if name == "cortex":
        from nephos.insights.narrators.cortex import DEFAULT_MODELS, CortexNarrator
        from nephos.warehouse import open_warehouse

        if config.storage.warehouse.backend != "snowflake":
            raise ConfigError(
                "the cortex narrator runs in Snowflake: set storage.warehouse.backend to "
                "snowflake, or choose narrator template or openai",
                path="insights.narrator",
            )
        warehouse = open_warehouse(config.storage.warehouse, clock=clock)
        await warehouse.open()
        try:
            yield CortexNarrator(warehouse=warehouse, models=models or DEFAULT_MODELS, **common)
        finally:
            await warehouse.close()
        return
    raise ConfigError(
        f"unknown narrator {name!r} (known: template, cortex, openai)", path="insights.narrator"
    )


async def narrate(
    narrator: Narrator,
    ask: Callable[[Narrator], Awaitable[Narration[Any]]],
) -> Narration[Any]:
    """``ask(narrator)``, or the template's answer with a note when a model narrator fails."""
    try:
        return await ask(narrator)
    except NarratorError as exc:
        if isinstance(narrator, TemplateNarrator):
            raise
        fallback = await ask(TemplateNarrator())
        note = f"the {narrator.name} narrator failed, so this is the template's text: {exc}"
        return replace(fallback, notes=(note, *fallback.notes))
