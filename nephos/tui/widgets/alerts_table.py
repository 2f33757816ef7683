"""The alerts pane: open alerts newest first, severity as colour, glyph and word."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from nephos.model import Alert
from nephos.tui.cells import age_text, alert_state_cell, plain, severity_cell

__all__ = ["AlertsTable"]

_COLUMNS = (
    ("severity", "severity", 10),
    ("state", "state", 9),
    ("age", "age", 4),
    ("target", "target", 16),
    ("title", "alert", 0),  # takes the width the others leave
    ("id", "id", 10),
)
_TITLE_MIN = 12


class AlertsTable(DataTable[Text]):
    """Open alerts, keyed by alert id."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._order: list[str] = []
        self._alerts: dict[str, Alert] = {}

    def on_mount(self) -> None:
        for key, heading, width in _COLUMNS:
            self.add_column(heading, key=key, width=width or _TITLE_MIN)

    def on_resize(self, event: events.Resize) -> None:
        fixed = sum(width for _, _, width in _COLUMNS) + 2 * self.cell_padding * len(_COLUMNS)
        title = self.columns.get(ColumnKey("title"))
        if title is not None:  # the border and the scrollbar take 4 cells
            title.width = max(_TITLE_MIN, event.size.width - fixed - 4)
            self._require_update_dimensions = True  # DataTable's only way to re-measure
            self.refresh()

    def _cells(self, alert: Alert, now: datetime) -> list[Text]:
        return [
            severity_cell(alert.severity),
            alert_state_cell(alert),
            Text(age_text(now - alert.started_at), justify="right"),
            plain(alert.target),
            plain(alert.title),
            plain(alert.id),
        ]

    def show(self, alerts: list[Alert], now: datetime) -> None:
        """Draw ``alerts`` in order; rows that stay in place are updated cell by cell."""
        order = [a.id for a in alerts]
        selected = self.selected_id()
        if order != self._order:
            self.clear()
            for alert in alerts:
                self.add_row(*self._cells(alert, now), key=alert.id)
            if selected in order:
                self.move_cursor(row=order.index(selected), animate=False)
        else:
            for alert in alerts:
                for (key, _, _), cell in zip(_COLUMNS, self._cells(alert, now), strict=True):
                    if self.get_cell(alert.id, key) != cell:
                        self.update_cell(alert.id, key, cell)
        self._order = order
        self._alerts = {a.id: a for a in alerts}
        self.border_title = f"alerts · {len(alerts)} open"

    def refresh_ages(self, now: datetime) -> None:
        """Move the age column on."""
        for alert_id in self._order:
            cell = Text(age_text(now - self._alerts[alert_id].started_at), justify="right")
            if self.get_cell(alert_id, "age") != cell:
                self.update_cell(alert_id, "age", cell)

    def selected(self) -> Alert | None:
        """The alert under the cursor, if any."""
        alert_id = self.selected_id()
        return None if alert_id is None else self._alerts.get(alert_id)

    def selected_id(self) -> str | None:
        """The id of the alert under the cursor, if any."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]
