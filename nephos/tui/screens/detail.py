"""The detail screen of one target: a latency chart over time, the CPU and memory of the
instance it names, its last results, its alerts."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Sparkline, Static
from textual.widgets.data_table import ColumnKey

from nephos.clock import Clock
from nephos.sentinel.output import format_latency, format_time
from nephos.tui.cells import (
    age_text,
    alert_state_cell,
    instance_state_cell,
    percent_cell,
    plain,
    severity_cell,
    state_cell,
)
from nephos.tui.state import FleetState, InstanceKey, TargetRow
from nephos.tui.widgets.status_bar import StatusBar

__all__ = ["TargetDetail"]


class TargetDetail(Screen[None]):
    """Everything remembered about one target, redrawn as results arrive."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", key_display="esc", id="nephos.detail.back"),
        Binding("q", "app.quit", "Quit", id="nephos.detail.quit"),
    ]

    def __init__(self, target: str, state: FleetState, clock: Clock) -> None:
        super().__init__()
        self.target = target
        """The target this screen shows."""
        self.instance_key: InstanceKey | None = None
        """(provider, id) of the instance the target names, once it is known."""
        self._state = state
        self._clock = clock

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Static(id="detail-title")
        with Vertical(id="chart"):
            yield Static(id="chart-label")
            yield Sparkline([], id="latency-chart")
        yield Static(id="target-instance")
        results: DataTable[Text] = DataTable(id="results", cursor_type="row")
        results.border_title = "last results"
        yield results
        alerts: DataTable[Text] = DataTable(id="target-alerts", cursor_type="row")
        alerts.border_title = "alerts"
        yield alerts
        yield Footer()

    def on_mount(self) -> None:
        results = self.query_one("#results", DataTable)
        for heading, width in (("time", 8), ("state", 10), ("latency", 8), ("status", 6)):
            results.add_column(heading, width=width)
        results.add_column("reason", key="reason", width=40)
        self._fit(self.size.width)
        self.query_one("#target-alerts", DataTable).add_columns(
            "severity", "state", "age", "alert", "id"
        )
        self.show(self._state, self._clock.now())

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        """Give the reason column what the others leave, so no horizontal scrollbar shows."""
        results = self.query_one("#results", DataTable)
        reason = results.columns.get(ColumnKey("reason"))
        if reason is not None and width:  # the other columns, their padding, the scrollbar
            reason.width = max(16, width - 46)
            results.refresh()

    def show(self, state: FleetState, now: datetime) -> None:
        """Redraw from ``state``; a target that has gone reads as such."""
        row = state.rows.get(self.target)
        title = Text()
        title.append(self.target, style="bold")
        if row is None:
            title.append("  no longer reported by the hub", style="dim")
            self.query_one("#detail-title", Static).update(title)
            return
        latest = row.latest
        title.append("  ")
        title.append_text(state_cell(latest.health))
        where = " · ".join(p for p in (latest.provider, latest.region, latest.kind.value) if p)
        title.append(f"  {where}", style="dim")
        if row.flapping:
            title.append("  ⇅ flapping", style="bold magenta")
        if latest.reason:
            title.append("\n")
            title.append_text(plain(latest.reason, limit=200))
        self.query_one("#detail-title", Static).update(title)

        latencies = row.latencies
        label = Text(f"latency over the last {len(latencies)} results", style="bold")
        if latencies:
            label.append(
                f"  min {format_latency(min(latencies))} · max {format_latency(max(latencies))}"
                f" · last {format_latency(latencies[-1])}",
                style="dim",
            )
        self.query_one("#chart-label", Static).update(label)
        self.query_one("#latency-chart", Sparkline).data = latencies
        self._show_instance(state, row)

        results = self.query_one("#results", DataTable)
        results.clear()
        for result in reversed(row.history):
            status = str(result.status_code) if result.status_code is not None else "—"
            results.add_row(
                Text(format_time(result.ts)),
                state_cell(result.health),
                Text(format_latency(result.latency_ms), justify="right"),
                Text(status),
                plain(result.reason or result.error or "", limit=120),
            )

        alerts = self.query_one("#target-alerts", DataTable)
        alerts.clear()
        for alert in state.alerts_for(self.target):
            alerts.add_row(
                severity_cell(alert.severity),
                alert_state_cell(alert),
                Text(age_text(now - alert.started_at)),
                plain(alert.title),
                plain(alert.id),
            )

    def _show_instance(self, state: FleetState, row: TargetRow) -> None:
        """``on web-1 ● running · cpu 41% ▂▃▅▇ · mem 63% ▅▅▆▆`` when the target names one."""
        box = self.query_one("#target-instance", Static)
        box.display = bool(row.latest.instance)
        if not row.latest.instance:
            return
        line = Text("on ", style="dim")
        instance = state.instance_of(row)
        if instance is None:
            line.append_text(plain(row.latest.instance, limit=60))
            line.append("  not in the inventory the hub sent", style="dim")
            box.update(line)
            return
        self.instance_key = (instance.provider, instance.id)
        line.append_text(plain(instance.name or instance.id, limit=60))
        line.append(" ")
        line.append_text(instance_state_cell(instance.state))
        for metric, word in (("cpu_percent", "cpu"), ("mem_percent", "mem")):
            line.append(f" · {word} ", style="dim")
            line.append_text(percent_cell(state.instance_values(instance, metric), 30))
        box.update(line)
