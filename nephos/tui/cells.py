"""How values read on screen: state glyphs and words, ages, latencies, sparklines, severities.

Everything returns :class:`rich.text.Text` built from plain strings, never markup, so a target
named ``[bold]x[/bold]`` shows literally. Every state carries a glyph and a word as well as a
colour, so the screen still reads with ``NO_COLOR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from rich.text import Text

from nephos.model import Alert, AlertState, Health, InstanceState, Severity
from nephos.sentinel.output import format_latency, one_line, state_label

__all__ = [
    "SPARK_BLOCKS",
    "age_text",
    "alert_state_cell",
    "health_class",
    "instance_state_cell",
    "latency_cell",
    "percent_cell",
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
_DOWN = ("✕", "red")
_BETWEEN = ("▲", "yellow")
_INSTANCE_STATE: dict[InstanceState, tuple[str, str]] = {
    InstanceState.RUNNING: ("●", "green"),
    InstanceState.PENDING: _BETWEEN,
    InstanceState.STOPPING: _BETWEEN,
    InstanceState.MAINTENANCE: _BETWEEN,
    InstanceState.TERMINATING: _BETWEEN,
    InstanceState.STOPPED: _DOWN,
    InstanceState.SUSPENDED: _DOWN,
    InstanceState.TERMINATED: ("✕", "dim red"),
    InstanceState.ERROR: ("✕", "bold red"),
    InstanceState.UNKNOWN: ("?", "dim"),
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


def instance_state_cell(state: InstanceState, *, dim: bool = False) -> Text:
    """``● running``, ``▲ pending``, ``✕ stopped`` or ``? unknown`` in the state's colour."""
    glyph, style = _INSTANCE_STATE[state]
    return Text(f"{glyph} {state.value}", style=f"{style} dim" if dim else style)


def percent_cell(values: Sequence[float], width: int, *, dim: bool = False) -> Text:
    """``42% ▂▃▅▇``: the latest percentage, then a sparkline on a fixed 0-100 scale.

    A fixed scale (unlike :func:`spark_text`) lets rows be compared at a glance: a machine idling
    at 2% draws low, not a full-height line of noise. ``—`` when there is no value yet.
    """
    if not values:
        return Text("—", style="dim", justify="left")
    head = f"{values[-1]:3.0f}%"
    top = len(SPARK_BLOCKS) - 1
    tail = values[-max(0, width - len(head) - 1) :] if width > len(head) + 1 else []
    spark = "".join(SPARK_BLOCKS[round(min(100.0, max(0.0, v)) / 100 * top)] for v in tail)
    text = Text(head, style="dim" if dim else "bold" if values[-1] >= 90 else "")
    if spark:
        text.append(" ")
        text.append(spark, style="dim" if dim else "cyan")
    return text


def severity_cell(severity: Severity) -> Text:
    """The severity as a glyph, a word and a colour."""
    word, style = _SEVERITY[severity]
    return Text(word, style=style)


def alert_state_cell(alert: Alert) -> Text:
    """``firing``, ``◆ acked`` or ``● resolved``, with ``⇅`` when the alert flaps."""
    word, style = _ALERT_STATE[alert.state]
    return Text(word + (" ⇅" if alert.flapping else ""), style=style)
