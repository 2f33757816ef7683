"""Documents as plain text with their uppercase headings, and as ``--json`` data.

No colour and no markup here: the CLI adds bold headings on a terminal. Every line of text
that may carry words from monitored systems is flattened to one line and stripped of control
characters, so that an alert message cannot forge output lines or terminal escapes.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from nephos.insights.documents import ExplanationDoc, SummaryDoc, TrendDoc
from nephos.insights.facts import AlertFact
from nephos.insights.narrators.base import Narration

__all__ = [
    "clean",
    "explanation_text",
    "narration_json",
    "notes_text",
    "summary_text",
    "trend_text",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e]")
WIDTH = 100


def clean(text: str) -> str:
    """``text`` on one line without control characters or bidirectional overrides."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _para(text: str, indent: str = "  ", width: int = WIDTH) -> list[str]:
    return textwrap.wrap(clean(text), width=width, initial_indent=indent, subsequent_indent=indent)


def _items(
    items: list[str], *, numbered: bool, indent: str = "  ", width: int = WIDTH
) -> list[str]:
    out = []
    for i, item in enumerate(items, 1):
        mark = f"{i}. " if numbered else "• "
        out += textwrap.wrap(
            clean(item),
            width=width,
            initial_indent=indent + mark,
            subsequent_indent=indent + " " * len(mark),
        )
    return out


def notes_text(narration: Narration[Any]) -> list[str]:
    """The footer: who wrote it, which sections were replaced and why, tokens used."""
    model = f" (model {narration.model})" if narration.model else ""
    cached = ", from the cache" if narration.cached else ""
    lines = [f"written by the {narration.narrator} narrator{model}{cached}"]
    if narration.usage is not None:
        u = narration.usage
        lines.append(
            f"tokens: {u.prompt_tokens} prompt + {u.completion_tokens} completion "
            f"= {u.total_tokens}"
        )
    lines += [f"note: {clean(n)}" for n in narration.notes]
    return lines


def summary_text(narration: Narration[SummaryDoc], *, width: int = WIDTH) -> str:
    """The summary with its five headings; the health status on one line."""
    doc = narration.document
    lines = [f"HEALTH STATUS: {clean(doc.health_status)}", ""]
    for title, items, numbered in (
        ("KEY FINDINGS", doc.key_findings, False),
        ("IMMEDIATE ACTIONS NEEDED", doc.immediate_actions, True),
        ("PREDICTIONS", doc.predictions, False),
        ("RECOMMENDED OPTIMIZATIONS", doc.optimizations, False),
    ):
        lines.append(title)
        lines += _items(items, numbered=numbered, width=width) or ["  none"]
        lines.append("")
    lines += notes_text(narration)
    return "\n".join(lines) + "\n"


def explanation_text(
    narration: Narration[ExplanationDoc], alert: AlertFact, *, width: int = WIDTH
) -> str:
    """The explanation with its four headings, under a line naming the alert."""
    doc = narration.document
    head = f"ALERT {alert.id} · {clean(alert.title)} ({alert.severity}, {alert.state})"
    lines = [head, "", "WHAT THIS MEANS", *_para(doc.what_this_means, width=width), ""]
    lines += ["WHY IT HAPPENED", "  Observed:"]
    lines += _items(doc.observed, numbered=False, indent="    ", width=width)
    lines.append("  Likely causes, most likely first (not confirmed):")
    lines += _items(doc.likely_causes, numbered=True, indent="    ", width=width) or ["    none"]
    lines += ["", "ACTION TO TAKE", *_items(doc.actions, numbered=True, width=width), ""]
    lines += textwrap.wrap(
        f"URGENCY: {doc.urgency}/10 — {clean(doc.urgency_reason)}",
        width=width,
        subsequent_indent="  ",
    )
    lines += ["", *notes_text(narration)]
    return "\n".join(lines) + "\n"


def trend_text(narration: Narration[TrendDoc], chart: str, *, width: int = WIDTH) -> str:
    """The trend analysis, then the chart."""
    lines = ["TREND", *_items(narration.document.analysis, numbered=False, width=width)]
    if chart:
        lines += ["", chart.rstrip("\n")]
    lines += ["", *notes_text(narration)]
    return "\n".join(lines) + "\n"


def narration_json(narration: Narration[Any], facts: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` document: the sections, how they were written, and the facts."""
    return {
        **narration.document.model_dump(),
        "meta": narration.meta(),
        "facts": facts,
    }
