"""Narrators and their registry: :func:`build_narrator` picks one by ``insights.narrator``.

Model narrators are imported only when a config names them, so that the template narrator
(the default) loads neither httpx clients nor the Snowflake connector.
"""

from __future__ import annotations

from nephos.insights.narrators.base import Narration, Narrator, NarratorError, Usage

__all__ = ["NARRATORS", "Narration", "Narrator", "NarratorError", "Usage"]

NARRATORS = ("template", "cortex", "openai")
"""The names ``insights.narrator`` accepts."""
