"""Words and numbers of the sentinel's live output, without any styling.

Every state has a glyph and a word (``● ok``, ``▲ degraded``, ``✕ down``) so that colour is
never the only signal. The CLI adds colour with Rich; the demo and ``nephos status`` share the
same vocabulary. Nothing here prints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from nephos.model import Alert, AlertState, CheckResult, Health
from nephos.sentinel.events import AlertEvent, CheckEvent, SentinelEvent

__all__ = [
    "FleetTally",
    "StateLabel",
    "alert_word",
    "format_latency",
    "format_time",
    "one_line",
    "state_label",
]


@dataclass(frozen=True, slots=True)
class StateLabel:
    """How a health reads: a glyph, a word and the style name the CLI colours it with."""

    glyph: str
    word: str
    style: str

    def __str__(self) -> str:
        return f"{self.glyph} {self.word}"


_LABELS = {
    Health.HEALTHY: StateLabel("●", "ok", "green"),
    Health.DEGRADED: StateLabel("▲", "degraded", "yellow"),
    Health.UNHEALTHY: StateLabel("✕", "down", "red"),
    Health.UNKNOWN: StateLabel("?", "unknown", "bright_black"),
}
_OFFLINE = StateLabel("○", "offline", "magenta")


def state_label(health: Health, *, offline: bool = False) -> StateLabel:
    """The label of ``health``; results taken while the sentinel was offline read ``○ offline``."""
    return _OFFLINE if offline else _LABELS[health]


def format_latency(ms: float) -> str:
    """``87 ms`` below a second, ``1.42 s`` above."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.2f} s"


def format_time(ts: datetime) -> str:
    """``HH:MM:SS`` in UTC, the time column of live lines."""
    return ts.astimezone(UTC).strftime("%H:%M:%S")


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line and at most ``limit`` characters: text from monitored systems may
    hold newlines that would forge extra output lines."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def alert_word(alert: Alert) -> str:
    """``firing``, ``acknowledged`` or ``resolved``, with ``flapping`` when it flaps."""
    word = alert.state.value
    return f"{word}, flapping" if alert.flapping and alert.state is AlertState.FIRING else word


class FleetTally:
    """Counts for the periodic summary line: targets per state, checks, open alerts."""

    def __init__(self) -> None:
        self._latest: dict[str, CheckResult] = {}
        self._open: dict[str, Alert] = {}
        self.checks = 0

    def add(self, event: SentinelEvent) -> None:
        """Take one event into account."""
        if isinstance(event, CheckEvent):
            self.checks += 1
            self._latest[event.result.target] = event.result
        elif isinstance(event, AlertEvent):
            if event.alert.state is AlertState.RESOLVED:
                self._open.pop(event.alert.id, None)
            else:
                self._open[event.alert.id] = event.alert

    def counts(self) -> Counter[StateLabel]:
        """Targets per state label, from their newest results."""
        return Counter(
            state_label(r.health, offline=r.sentinel_offline) for r in self._latest.values()
        )

    @property
    def open_alerts(self) -> int:
        """Alerts firing or acknowledged, as reported since start."""
        return len(self._open)

    def summary(self, open_alerts: int | None = None) -> str:
        """``12 targets: 10 ● ok, 1 ▲ degraded, 1 ✕ down · 340 checks · 2 alerts open``.

        Args:
            open_alerts: the open alerts as the alert book knows them (including those opened
                before this process started); by default, those reported since start.
        """
        counts = self.counts()
        order = [*_LABELS.values(), _OFFLINE]
        parts = [f"{counts[label]} {label}" for label in order if counts[label]]
        targets = len(self._latest)
        states = ", ".join(parts) if parts else "no results yet"
        noun = "target" if targets == 1 else "targets"
        opened = self.open_alerts if open_alerts is None else open_alerts
        alerts = "alert" if opened == 1 else "alerts"
        return f"{targets} {noun}: {states} · {self.checks} checks · {opened} {alerts} open"
