"""The main screen: header, provider cards, the filter input, the targets or the instances
(``i`` switches), and the alerts.

It draws the :class:`~nephos.tui.state.FleetState` it is given and handles what happens inside
it (typing a filter, clicking a card or a heading, choosing a row); the app owns the stream,
the frame timer and the key bindings, and calls in here.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input

from nephos.clock import Clock
from nephos.model import Alert, AlertState
from nephos.tui.instance_query import parse_instance_filter
from nephos.tui.query import FilterError, RowFilter, parse_filter
from nephos.tui.state import Changes, FleetState, InstanceKey
from nephos.tui.widgets.alerts_table import AlertsTable
from nephos.tui.widgets.instance_table import InstanceTable
from nephos.tui.widgets.provider_cards import ProviderCard, ProviderCards, card_label
from nephos.tui.widgets.status_bar import StatusBar
from nephos.tui.widgets.target_table import TargetTable

__all__ = ["MainScreen"]

_DEBOUNCE_ABOVE = 1000  # rows; below this a filter applies as each key is typed
_DEBOUNCE_S = 0.2
_FILTER_HINT = "filter: text  state:down  provider:aws  region:eu  is:flapping  !negates"
_INSTANCE_HINT = "filter: text  state:stopped  provider:vultr  region:eu  size:  !negates"


class MainScreen(Screen[None]):
    """The fleet at a glance.

    Args:
        state: the view-model to draw.
        table: the targets table (the app builds it with its staleness threshold).
        clock: the app's clock, for ages.
    """

    class DetailRequested(Message):
        """The operator chose a target row."""

        def __init__(self, target: str) -> None:
            super().__init__()
            self.target = target
            """The chosen target."""

    class InstanceRequested(Message):
        """The operator chose an instance row."""

        def __init__(self, key: InstanceKey) -> None:
            super().__init__()
            self.key = key
            """(provider, id) of the chosen instance."""

    def __init__(self, state: FleetState, table: TargetTable, clock: Clock) -> None:
        super().__init__()
        self.fleet = state
        """The view-model this screen draws."""
        self.targets = table
        """The main table."""
        self.instances = InstanceTable(id="instances")
        """The instances view, shown instead of the targets by ``i``."""
        self.showing_instances = False
        """The instances view is the one shown."""
        self.alerts_pane = AlertsTable(id="alerts")
        """The alerts pane."""
        self.cards = ProviderCards(id="cards")
        """The provider cards."""
        self.status = StatusBar(id="status")
        """The header."""
        self.filter_box = Input(placeholder=_FILTER_HINT, id="filter")
        """The filter input, shown by ``/``."""
        self._clock = clock
        self._filter_timer: Timer | None = None
        self._instances_behind = False  # the hidden instances view missed changes

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.cards
        yield self.filter_box
        yield self.targets
        yield self.instances
        yield self.alerts_pane
        yield Footer()

    def on_mount(self) -> None:
        self.targets.focus()

    # ---- drawing (the app calls these inside batch_update)

    def draw(self, changes: Changes, now: datetime) -> None:
        """Draw ``changes`` into the tables, and the cards."""
        if changes.reset or changes.targets:
            self.targets.apply(self.fleet, changes, now)
            self.draw_title()
        if changes.reset or changes.instance_keys:
            if not self.showing_instances:
                self._instances_behind = True  # caught up at once when shown
            elif changes.reset:
                self.instances.rebuild(self.fleet)
            else:
                self.instances.apply(self.fleet, changes.instance_keys)
            self.draw_title()
        if changes.alerts or changes.reset:
            self.alerts_pane.show(self.fleet.open_alerts(), now)
        self.cards.show(self.fleet.providers(), self.targets.provider)

    def redraw(self) -> None:
        """Rebuild the table for a new filter or provider focus."""
        now = self._clock.now()
        with self.app.batch_update():
            if self.showing_instances:
                self.instances.rebuild(self.fleet)
                self._instances_behind = False
            else:
                self.targets.rebuild(self.fleet, now)
            self.draw_title()
            self.cards.show(self.fleet.providers(), self.targets.provider)

    def draw_title(self) -> None:
        """``targets · 12 of 5000 · AWS · filter: … · sort state ↓`` (the filter as typed)."""
        table: TargetTable | InstanceTable
        if self.showing_instances:
            table, what, total = self.instances, "instances", len(self.fleet.instances)
        else:
            table, what, total = self.targets, "targets", len(self.fleet.rows)
        title = Text(f"{what} · {table.row_count} of {total}")
        if table.provider is not None:
            title.append(f" · {card_label(table.provider)}")
        if table.row_filter:
            title.append(" · filter: ")
            title.append(table.row_filter.text[:40], style="bold")
        title.append(f" · sort {table.sort_spec.describe()}", style="dim")
        table.border_title = title

    @property
    def table(self) -> TargetTable | InstanceTable:
        """The table shown: the targets or the instances."""
        return self.instances if self.showing_instances else self.targets

    def toggle_instances(self) -> None:
        """Show the instances instead of the targets, or the targets again."""
        self.showing_instances = not self.showing_instances
        self.instances.display = self.showing_instances
        self.targets.display = not self.showing_instances
        box = self.filter_box
        with box.prevent(Input.Changed):
            box.value = self.table.row_filter.text
        box.placeholder = _INSTANCE_HINT if self.showing_instances else _FILTER_HINT
        box.remove_class("-error")
        box.border_subtitle = None
        if self.showing_instances and (self._instances_behind or not self.instances.row_count):
            self.redraw()
        self.draw_title()
        self.table.focus()

    # ---- what the app's actions ask of this screen

    def open_filter(self) -> None:
        """Show the filter input and type into it."""
        self.filter_box.add_class("-visible")
        self.filter_box.focus()

    def clear(self) -> None:
        """Clear the filter first, then the provider focus."""
        box = self.filter_box
        if box.has_class("-visible") or self.table.row_filter:
            with box.prevent(Input.Changed):
                box.value = ""
            box.remove_class("-visible", "-error")
            box.border_subtitle = None
            self.table.focus()
            self._apply_filter(RowFilter())
        elif self.table.provider is not None:
            self.focus_provider(None)

    def sort_current(self) -> None:
        """Sort by the table's current column, or reverse it."""
        if self.showing_instances:
            self.instances.sort_by(self.instances.cursor_sort_column(), self.fleet)
        else:
            self.targets.sort_by(self.targets.cursor_sort_column(), self.fleet)
        self.draw_title()

    def focus_provider(self, provider: str | None) -> None:
        """Show only ``provider``'s targets and instances; None shows every provider."""
        self.targets.provider = provider
        self.instances.provider = provider
        self._instances_behind = True
        if self.showing_instances:
            self.targets.rebuild(self.fleet, self._clock.now())
        self.redraw()

    def provider_at(self, index: int) -> str | None:
        """The provider of card ``index`` (1-based)."""
        return self.cards.provider_at(index)

    def selected_alert(self) -> Alert | None:
        """The alert under the alerts pane's cursor when it has the focus, else the newest
        open alert of the target under the table's cursor."""
        if self.alerts_pane.has_focus:
            return self.alerts_pane.selected()
        if self.showing_instances:
            return None
        name = self.targets.selected_name()
        if name is None:
            return None
        mine = [a for a in self.fleet.alerts_for(name) if a.state is not AlertState.RESOLVED]
        return mine[0] if mine else None

    def tick(self, now: datetime) -> None:
        """Move the ages on: the rows in view, and the alerts."""
        self.targets.refresh_ages(self.fleet, now)
        self.alerts_pane.refresh_ages(now)

    def switch_pane(self) -> None:
        """Move the focus between the targets and the alerts."""
        (self.alerts_pane if self.table.has_focus else self.table).focus()

    # ---- events inside the screen

    @on(TargetTable.SortRequested)
    def _heading_clicked(self, message: TargetTable.SortRequested) -> None:
        self.targets.sort_by(message.column, self.fleet)
        self.draw_title()

    @on(InstanceTable.SortRequested)
    def _instance_heading_clicked(self, message: InstanceTable.SortRequested) -> None:
        self.instances.sort_by(message.column, self.fleet)
        self.draw_title()

    @on(ProviderCard.Selected)
    def _card_clicked(self, message: ProviderCard.Selected) -> None:
        same = message.provider == self.table.provider
        self.focus_provider(None if same else message.provider)

    @on(DataTable.RowSelected, "#targets")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(self.DetailRequested(str(event.row_key.value)))

    @on(DataTable.RowSelected, "#instances")
    def _instance_chosen(self, event: DataTable.RowSelected) -> None:
        key = self.instances.selected_key()
        if key is not None:
            self.post_message(self.InstanceRequested(key))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        try:
            row_filter = self._parse(event.value)
        except FilterError as exc:
            event.input.border_subtitle = Text(str(exc))
            event.input.add_class("-error")
            return
        event.input.border_subtitle = None
        event.input.remove_class("-error")
        if self.showing_instances or len(self.fleet.rows) < _DEBOUNCE_ABOVE:
            self._apply_filter(row_filter)
            return
        # Rebuilding thousands of rows on every keystroke would make typing lag: wait for a
        # pause in the typing (enter applies at once).
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(_DEBOUNCE_S, lambda: self._apply_filter(row_filter))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("-visible")
        self.table.focus()
        with contextlib.suppress(FilterError):  # a bad filter keeps the last good one
            self._apply_filter(self._parse(event.value))

    def _parse(self, text: str) -> RowFilter:
        return parse_instance_filter(text) if self.showing_instances else parse_filter(text)

    def _apply_filter(self, row_filter: RowFilter) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        if row_filter.text != self.table.row_filter.text:
            self.table.row_filter = row_filter
            self.redraw()
