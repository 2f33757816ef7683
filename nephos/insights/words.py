"""Small phrasing helpers shared by the template narrator and the reports: numbers, durations,
percentages, lists of names. Every number they print is a fact, or a fact converted by a unit
the grounding check knows (minutes to hours or days, a fraction to a percentage)."""

from __future__ import annotations

from datetime import UTC, datetime

from nephos.analytics.forecast_alert import format_level, metric_label

__all__ = [
    "cap",
    "clip",
    "format_level",
    "metric_label",
    "metric_start",
    "names",
    "number",
    "percent",
    "plural",
    "sentence",
    "span_hours",
    "span_minutes",
    "utc_time",
]


def number(value: float, places: int = 1) -> str:
    """``value`` with at most ``places`` decimals and no trailing ``.0``: 72.5, 100, 0.25."""
    if places <= 0 or float(value).is_integer():
        return f"{value:.0f}"
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def percent(value: float, places: int = 1) -> str:
    """``value`` (already in percent) as ``72.5%``."""
    return number(value, places) + "%"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 target``, ``3 targets``, ``2 of them``; ``many`` for irregular plurals."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def span_minutes(minutes: float) -> str:
    """A duration given in minutes, in words: "4 minutes", "3.5 hours", "2 days"."""
    if minutes < 1:
        return "less than a minute"
    if minutes < 90:
        return plural(round(minutes), "minute")
    hours = minutes / 60
    if hours < 48:
        return f"{number(hours)} hours"
    return f"{number(hours / 24)} days"


def span_hours(hours: float) -> str:
    """A duration given in hours, in words: "40 minutes", "42 hours", "3.5 days"."""
    if hours < 1.5:
        return span_minutes(hours * 60)
    if hours < 72:
        return f"{number(hours, 0 if hours >= 10 else 1)} hours"
    return f"{number(hours / 24)} days"


def utc_time(when: datetime, *, with_date: bool = False) -> str:
    """``14:05 UTC``, or ``2026-01-05 14:05 UTC``."""
    fmt = "%Y-%m-%d %H:%M UTC" if with_date else "%H:%M UTC"
    return when.astimezone(UTC).strftime(fmt)


def names(items: list[str], *, limit: int = 3) -> str:
    """``a``, ``a and b``, ``a, b and c``, ``a, b, c and 4 more``."""
    if not items:
        return ""
    if len(items) > limit:
        shown = items[:limit]
        return ", ".join(shown) + f" and {len(items) - limit} more"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def cap(text: str) -> str:
    """``text`` with its first letter in upper case and the rest as written ("CPU" stays)."""
    return text[:1].upper() + text[1:]


def metric_start(metric: str) -> str:
    """A metric's words at the start of a sentence: "Disk", "CPU"; a name nephos does not know
    (``gpu_percent``) is a name, and keeps its case."""
    label = metric_label(metric)
    return cap(label) if label != metric else label


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (or its own ``…``, ``?`` or ``!``)."""
    text = text.rstrip()
    return text if text.endswith((".", "…", "?", "!")) else text + "."
