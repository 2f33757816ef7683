"""The detail screen of one instance: CPU and memory (and disk, when reported) charted over
time, what the provider says about it, and the targets that name it with their state."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Sparkline, Static

from nephos.clock import Clock
from nephos.model import Instance, MetricPoint
from nephos.sentinel.output import format_latency, format_time
from nephos.tui.cells import age_text, instance_state_cell, plain, state_cell
from nephos.tui.state import FleetState, InstanceKey
from nephos.tui.widgets.status_bar import StatusBar

__all__ = ["InstanceDetail", "metric_label"]

_CHARTS = (
    ("cpu_percent", "CPU", "cpu-chart"),
    ("mem_percent", "memory", "mem-chart"),
    ("disk_percent", "disk", "disk-chart"),  # shown only once a point has come
)


def metric_label(title: str, points: list[MetricPoint]) -> Text:
    """``CPU over 12 points since 10:02:04  min 3% · max 97% · last 41%``, or that none came."""
    label = Text(title, style="bold")
    if not points:
        label.append("  no points yet", style="dim")
        return label
    values = [p.value for p in points]
    label.append(f" · {len(points)} points since {format_time(points[0].ts)}", style="dim")
    label.append(
        f"  min {min(values):.0f}% · max {max(values):.0f}% · last {values[-1]:.0f}%",
        style="dim",
    )
    return label


class InstanceDetail(Screen[None]):
    """Everything remembered about one instance, redrawn as its events and metrics arrive."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", key_display="esc", id="nephos.instance.back"),
        Binding("q", "app.quit", "Quit", id="nephos.instance.quit"),
    ]

    def __init__(self, key: InstanceKey, state: FleetState, clock: Clock) -> None:
        super().__init__()
        self.key = key
        """(provider, id) of the instance this screen shows."""
        self.target_names: set[str] = set()
        """The targets shown as naming this instance (the app redraws when one changes)."""
        self._state = state
        self._clock = clock

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static(id="detail-title")
        for _, _, chart_id in _CHARTS:
            with Vertical(id=f"{chart_id}-box", classes="metric-chart"):
                yield Static(id=f"{chart_id}-label", classes="chart-label")
                yield Sparkline([], id=chart_id)
        targets: DataTable[Text] = DataTable(id="instance-targets", cursor_type="row")
        targets.border_title = "targets on this instance"
        yield targets
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#instance-targets", DataTable).add_columns(
            "state", "target", "latency", "last", "reason"
        )
        self.show(self._state, self._clock.now())

    def show(self, state: FleetState, now: datetime) -> None:
        """Redraw from ``state``; an instance that has gone reads as such."""
        instance = state.instances.get(self.key)
        title_box = self.query_one("#detail-title", Static)
        if instance is None:
            title = Text(self.key[1], style="bold")
            title.append("  no longer reported by the hub", style="dim")
            title_box.update(title)
            return
        title_box.update(self._title(instance))
        for metric, name, chart_id in _CHARTS:
            points = state.instance_points(instance, metric)
            self.query_one(f"#{chart_id}-label", Static).update(metric_label(name, points))
            self.query_one(f"#{chart_id}", Sparkline).data = [p.value for p in points]
            if metric == "disk_percent":
                self.query_one(f"#{chart_id}-box").display = bool(points)

        table = self.query_one("#instance-targets", DataTable)
        table.clear()
        rows = state.targets_on(instance)
        self.target_names = {r.name for r in rows}
        for row in rows:
            table.add_row(
                state_cell(row.health),
                plain(row.name),
                Text(format_latency(row.latest.latency_ms), justify="right"),
                Text(age_text(row.age(now)), justify="right"),
                plain(row.latest.reason or row.latest.error or "", limit=120),
            )

    @staticmethod
    def _title(instance: Instance) -> Text:
        title = Text()
        title.append(instance.name or instance.id, style="bold")
        title.append("  ")
        title.append_text(instance_state_cell(instance.state))
        where = [instance.provider, instance.region or instance.zone, instance.size]
        title.append("  " + " · ".join(p for p in where if p), style="dim")
        title.append("\n")
        title.append_text(plain(instance.id, limit=60))
        if instance.health_signal:
            title.append("  health ", style="dim")
            title.append_text(plain(instance.health_signal, limit=40))
        if instance.raw_state and instance.raw_state != instance.state.value:
            title.append(f"  ({instance.provider} says ", style="dim")
            title.append_text(plain(instance.raw_state, limit=30))
            title.append(")", style="dim")
        if instance.tags:
            tags = " ".join(f"{k}={v}" for k, v in sorted(instance.tags.items()))
            title.append("  ")
            title.append_text(plain(tags, limit=80, dim=True))
        return title
