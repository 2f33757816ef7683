"""How values read on screen: state glyphs and words, ages, latencies, sparklines, severities.

Everything returns :class:`rich.text.Text` built from plain strings, never markup, so a target
named ``[bold]x[/bold]`` shows literally. Every state carries a glyph and a word as well as a
colour, so the screen still reads with ``NO_COLOR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from rich.text import Text

from nephos.model import Alert, AlertState, Health, Severity
from nephos.sentinel.output import format_latency, one_line, state_label

__all__ = [
    "SPARK_BLOCKS",
    "age_text",
    "alert_state_cell",
    "health_class",
    "latency_cell",
    "plain",
    "severity_cell",
    "spark_text",
    "state_cell",
]

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
"""The eight levels of a text sparkline, lowest first."""

_SEVERITY = {
    Severity.CRITICAL: ("✕ critical", "bold red"),
    Severity.WARNING: ("▲ warning", "yellow"),
    Severity.INFO: ("i info", "blue"),
}
_ALERT_STATE = {
    AlertState.FIRING: ("firing", "bold"),
    AlertState.ACKNOWLEDGED: ("◆ acked", "dim"),
    AlertState.RESOLVED: ("● resolved", "green"),
}


def health_class(health: Health) -> str:
    """The CSS class a widget takes for ``health`` (its border colour comes from the theme)."""
    return f"-{health.value}"


def state_cell(health: Health, *, dim: bool = False) -> Text:
    """``● ok``, ``▲ degraded``, ``✕ down`` or ``? unknown`` in the state's colour."""
    label = state_label(health)
    return Text(str(label), style=f"{label.style} dim" if dim else label.style)


def plain(value: str | None, *, dim: bool = False, limit: int = 80) -> Text:
    """Untrusted text on one line, literally (no markup is interpreted)."""
    return Text(one_line(value or "", limit), style="dim" if dim else "")


def latency_cell(ms: float, *, dim: bool = False) -> Text:
    """``87 ms`` or ``1.42 s``, right-aligned."""
    return Text(format_latency(ms), style="dim" if dim else "", justify="right")


def age_text(age: timedelta) -> str:
    """A short age: ``4s``, ``12m``, ``3h``, ``2d``."""
    seconds = int(max(0.0, age.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def spark_text(values: Sequence[float], width: int = 12) -> str:
    """The last ``width`` values as block characters scaled between their min and max."""
    tail = list(values)[-width:]
    if not tail:
        return ""
    low, high = min(tail), max(tail)
    span = high - low
    if span <= 0:
        return SPARK_BLOCKS[0] * len(tail)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / span * top)] for v in tail)


def severity_cell(severity: Severity) -> Text:
    """The severity as a glyph, a word and a colour."""
    word, style = _SEVERITY[severity]
    return Text(word, style=style)


def alert_state_cell(alert: Alert) -> Text:
    """``firing``, ``◆ acked`` or ``● resolved``, with ``⇅`` when the alert flaps."""
    word, style = _ALERT_STATE[alert.state]
    return Text(word + (" ⇅" if alert.flapping else ""), style=style)
