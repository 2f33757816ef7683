"""The header: the connection pill (state, round trip, age of the last update, reconnect
countdown, pause) on the left and the fleet totals on the right."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from nephos.model import Health
from nephos.sentinel.output import one_line, state_label
from nephos.stream.client import ConnectionState, Phase
from nephos.tui.cells import age_text
from nephos.tui.state import FleetTotals

__all__ = ["PillView", "StatusBar", "pill_text", "totals_text"]

_PHASE_LOOK = {
    Phase.LIVE: ("●", "LIVE", "bold green"),
    Phase.CONNECTING: ("◌", "CONNECTING", "bold yellow"),
    Phase.RECONNECTING: ("◐", "RECONNECTING", "bold yellow"),
    Phase.OFFLINE: ("✕", "OFFLINE", "bold red"),
}


@dataclass(frozen=True, slots=True)
class PillView:
    """Everything the pill shows, computed by the app from the client and its clock."""

    state: ConnectionState
    rtt_ms: float | None
    since_update: timedelta | None
    """How long ago the last message arrived; None before the first."""
    retry_in: float | None = None
    """Seconds left before the next connection attempt."""
    paused: bool = False
    buffered: int = 0


def pill_text(view: PillView) -> Text:
    """``● LIVE · 3 ms · 2s ago`` and its reconnecting, offline and paused variants."""
    glyph, word, style = _PHASE_LOOK[view.state.phase]
    text = Text()
    text.append(f" {glyph} {word} ", style=f"{style} reverse")
    phase = view.state.phase
    if phase is Phase.LIVE:
        rtt = "—" if view.rtt_ms is None else f"{view.rtt_ms:.0f}"
        text.append(f" {rtt} ms")
    elif phase is Phase.RECONNECTING and view.retry_in is not None:
        text.append(f" ({view.state.attempt}) in {view.retry_in:.0f}s")
    elif phase is Phase.CONNECTING and view.state.attempt > 1:
        text.append(f" ({view.state.attempt})")
    if view.since_update is not None:
        lead = "" if phase is Phase.LIVE else "last update "
        text.append(f" · {lead}{age_text(view.since_update)} ago", style="dim")
    if phase in (Phase.OFFLINE, Phase.RECONNECTING) and view.state.reason:
        text.append(f" · {one_line(view.state.reason, 60)}", style="dim")
    if view.paused:
        text.append("  ⏸ PAUSED ", style="bold reverse")
        text.append(f" {view.buffered} buffered")
    return text


def totals_text(totals: FleetTotals) -> Text:
    """``12 targets ● 9 ▲ 2 ✕ 1 · 2 firing`` for the right of the header."""
    text = Text(justify="right")
    text.append(f"{totals.targets} targets ")
    for health in (Health.HEALTHY, Health.DEGRADED, Health.UNHEALTHY, Health.UNKNOWN):
        count = totals.counts.get(health, 0)
        if count or health is not Health.UNKNOWN:
            label = state_label(health)
            text.append(f" {label.glyph} {count}", style=label.style)
    text.append(" · ")
    text.append(f"{totals.firing} firing", style="bold red" if totals.firing else "")
    if totals.acknowledged:
        text.append(f" {totals.acknowledged} acked", style="dim")
    return text


class StatusBar(Horizontal):
    """The one-line header."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pill = Static(id="pill")
        """The connection pill."""
        self.totals = Static(id="totals")
        """The fleet totals."""

    def compose(self) -> ComposeResult:
        yield self.pill
        yield self.totals

    def show(self, pill: PillView, totals: FleetTotals) -> None:
        """Redraw the halves whose text changed (an update costs a layout pass)."""
        _update(self.pill, pill_text(pill))
        _update(self.totals, totals_text(totals))


def _update(widget: Static, text: Text) -> None:
    """Update ``widget`` only on a change; a new width needs a layout pass, the same not."""
    old = widget.content
    if isinstance(old, Text) and old == text and old.style == text.style:
        return
    widget.update(text, layout=not isinstance(old, Text) or len(old) != len(text))
