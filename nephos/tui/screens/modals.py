"""Modal screens: help generated from the binding table, and an alert's recorded facts.

The facts modal shows only what the alert book recorded, as plain text; ``e`` opens the
explanation modal (``explain.py``) instead, which narrates those facts.
"""

from __future__ import annotations

import json
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from nephos.model import Alert
from nephos.sentinel.output import format_time
from nephos.tui.bindings import help_rows
from nephos.tui.cells import alert_state_cell, plain, severity_cell

__all__ = ["AlertFacts", "HelpScreen"]

_CLOSE: list[BindingType] = [
    Binding("escape", "dismiss", "Close", key_display="esc", id="nephos.modal.close"),
    Binding("q", "dismiss", "Close", show=False, id="nephos.modal.close_q"),
]


class HelpScreen(ModalScreen[None]):
    """Every key of ``nephos watch``, from the one binding table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *_CLOSE,
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = "nephos watch · keys"
            box.border_subtitle = "esc closes · ctrl+p lists every action"
            yield Static(self.keys_table(), id="help-body")

    @staticmethod
    def keys_table() -> Table:
        """The keys as a Rich table, whose last column wraps on narrow terminals."""
        table = Table(box=None, show_edge=False, pad_edge=False, expand=True)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action", no_wrap=True)
        table.add_column("what it does", ratio=1)
        for row in help_rows():
            table.add_row(Text(row.key), Text(row.description), Text(row.tooltip))
        return table


class AlertFacts(ModalScreen[None]):
    """The recorded facts of one alert."""

    BINDINGS: ClassVar[list[BindingType]] = _CLOSE

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self.alert = alert
        """The alert shown."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="facts") as box:
            box.border_title = Text(f"alert {self.alert.id}")
            box.border_subtitle = "esc closes"
            yield Static(self._body())

    def _body(self) -> Text:
        alert = self.alert
        text = Text()
        text.append_text(severity_cell(alert.severity))
        text.append("  ")
        text.append_text(alert_state_cell(alert))
        text.append("  ")
        text.append_text(plain(alert.title, limit=200))
        text.append("\n\n")
        fields: list[tuple[str, str | None]] = [
            ("target", alert.target),
            ("provider", alert.provider),
            ("source", alert.source.value),
            ("condition", alert.condition),
            ("value", alert.value),
            ("started", format_time(alert.started_at)),
            ("updated", format_time(alert.updated_at)),
            ("acknowledged", format_time(alert.acknowledged_at) if alert.acknowledged_at else None),
            ("notified", str(alert.notify_count)),
            ("suppressed by", alert.suppressed_by),
        ]
        for name, value in fields:
            if value:
                text.append(f"{name:>14}  ", style="bold")
                text.append_text(plain(value, limit=200))
                text.append("\n")
        if alert.message:
            text.append("\n")
            text.append(alert.message)  # plain append: never parsed as markup
            text.append("\n")
        if alert.facts:
            text.append("\nfacts\n", style="bold")
            for key, value in sorted(alert.facts.items()):
                shown = value if isinstance(value, str) else json.dumps(value, default=str)
                text.append(f"{key:>14}  ", style="bold")
                text.append(shown)
                text.append("\n")
        return text
