"""The main table: one row per target, keyed by name and updated cell by cell in place.

The table draws what :class:`~nephos.tui.state.FleetState` holds through a filter, a provider
focus and a sort. Rows are rebuilt only when the filter or a snapshot asks for it; otherwise a
change touches only the cells whose text changed. Rows older than ``stale_after`` are dimmed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from rich.text import Text
from textual import events
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey

from nephos.tui.cells import age_text, latency_cell, plain, spark_text, state_cell
from nephos.tui.query import RowFilter, SortColumn, SortSpec, sort_rows
from nephos.tui.state import Changes, FleetState, TargetRow

__all__ = ["COLUMNS", "TargetTable"]

COLUMNS: tuple[tuple[SortColumn, str, int, int], ...] = (
    (SortColumn.STATE, "state", 10, 10),
    (SortColumn.NAME, "name", 0, 0),  # takes the width the others leave
    (SortColumn.PROVIDER, "provider", 8, 8),
    (SortColumn.REGION, "region", 12, 8),
    (SortColumn.LATENCY, "latency", 8, 7),
    (SortColumn.CHECKED, "last", 4, 4),
    (SortColumn.TREND, "trend", 12, 6),
    (SortColumn.FLAP, "flap", 4, 4),
)
"""Column key, heading, and width on wide and on narrow (under 100 cells) terminals."""

_COMPACT_BELOW = 100
_NAME_MIN = 12
_AGE = 5  # the index of the "last" column, whose text is the age

_Signature = tuple[tuple[str, str], ...]


class TargetTable(DataTable[Text]):
    """Targets, keyed by name.

    Args:
        stale_after: rows whose latest result is older than this are dimmed.
    """

    def __init__(self, *, stale_after: timedelta, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.stale_after = stale_after
        """Age past which a row is dimmed."""
        self.row_filter = RowFilter()
        """The filter the operator typed."""
        self.provider: str | None = None
        """Show only this provider's targets; None for all."""
        self.sort_spec = SortSpec()
        """The current order."""
        self.current_column = 0
        """The column ``s`` sorts by; left and right move it (the cursor selects whole rows)."""
        self._shown: dict[str, _Signature] = {}
        self._pending: set[str] = set()
        self._fleet: FleetState | None = None
        self._now = datetime.min
        self._unsorted = False
        self._spark_width = COLUMNS[6][2]

    def on_mount(self) -> None:
        for key, heading, width, _ in COLUMNS:
            self.add_column(heading, key=key.value, width=width or _NAME_MIN)
        self.relabel()

    def relabel(self) -> None:
        """Mark the sorted column with its direction and underline the current column."""
        for index, (key, heading, _, _) in enumerate(COLUMNS):
            label = Text(heading)
            if key is self.sort_spec.column:
                label.append(" ↑" if self.sort_spec.reverse else " ↓")
            if index == self.current_column:
                label.stylize("underline")
            self.columns[self._key(key)].label = label
        self.refresh()

    def action_cursor_left(self) -> None:
        self.current_column = max(0, self.current_column - 1)
        self.relabel()

    def action_cursor_right(self) -> None:
        self.current_column = min(len(COLUMNS) - 1, self.current_column + 1)
        self.relabel()

    def on_resize(self, event: events.Resize) -> None:
        if not self.columns:
            return
        compact = event.size.width < _COMPACT_BELOW
        widths = [narrow if compact else wide for _, _, wide, narrow in COLUMNS]
        fixed = sum(widths) + 2 * self.cell_padding * len(COLUMNS)
        # The border and the vertical scrollbar take 4 cells; the name takes what is left, so
        # the table needs no horizontal scrollbar down to 80 columns.
        widths[1] = max(_NAME_MIN, event.size.width - fixed - 4)
        for (key, _, _, _), width in zip(COLUMNS, widths, strict=True):
            self.columns[self._key(key)].width = width
        self._spark_width = widths[6]
        # DataTable re-measures its columns only when asked; there is no public way to ask.
        self._require_update_dimensions = True
        self.refresh()
        self._draw_pending_in_view()

    @staticmethod
    def _key(column: SortColumn) -> ColumnKey:
        return ColumnKey(column.value)

    # ---- what a row shows

    def shows(self, row: TargetRow) -> bool:
        """Whether ``row`` passes the provider focus and the filter."""
        if self.provider is not None and row.provider != self.provider:
            return False
        return self.row_filter.matches(row)

    def _cells(self, row: TargetRow, now: datetime) -> list[Text]:
        dim = row.age(now) > self.stale_after
        style = "dim" if dim else ""
        return [
            state_cell(row.health, dim=dim),
            plain(row.name, dim=dim),
            plain(row.provider, dim=dim),
            plain(row.region or "—", dim=dim),
            latency_cell(row.latest.latency_ms, dim=dim),
            Text(age_text(row.age(now)), style=style, justify="right"),
            Text(spark_text(row.latencies, self._spark_width), style=style or "cyan"),
            Text("⇅" if row.flapping else "", style="bold magenta"),
        ]

    @staticmethod
    def _signature(cells: list[Text]) -> _Signature:
        return tuple((cell.plain, str(cell.style)) for cell in cells)

    # ---- drawing

    def rebuild(self, state: FleetState, now: datetime) -> None:
        """Clear and refill in sorted order, keeping the cursor on the same target."""
        self._fleet, self._now = state, now
        selected = self.selected_name()
        self.clear()
        self._shown = {}
        self._pending = set()
        rows = sort_rows((r for r in state.rows.values() if self.shows(r)), self.sort_spec)
        for row in rows:
            cells = self._cells(row, now)
            self._shown[row.name] = self._signature(cells)
            self.add_row(*cells, key=row.name)
        self._unsorted = False
        self._restore_cursor(selected)

    def apply(self, state: FleetState, changes: Changes, now: datetime) -> None:
        """Draw ``changes``: rows added, updated in place or removed by the filter."""
        if changes.reset:
            self.rebuild(state, now)
            return
        self._fleet, self._now = state, now
        self._update(state, changes.targets, now)

    def refresh_ages(self, state: FleetState, now: datetime) -> None:
        """Redraw the cells that depend on time alone (the age and the dimming).

        Only the rows in view are redrawn: with thousands of rows most ages change every
        second, and a row scrolled into view catches up at once (see ``watch_scroll_y``).
        """
        self._fleet, self._now = state, now
        for name in self._names_in_view():
            shown = self._shown.get(name)
            row = state.rows.get(name)
            if row is None or shown is None:
                continue
            age = row.age(now)
            dim = age > self.stale_after
            if name in self._pending or (shown[_AGE][1] == "dim") != dim:
                self._update(state, [name], now)
            elif shown[_AGE][0] != (text := age_text(age)):
                cell = Text(text, style="dim" if dim else "", justify="right")
                self.update_cell(name, SortColumn.CHECKED.value, cell)
                signature = list(shown)
                signature[_AGE] = (cell.plain, str(cell.style))
                self._shown[name] = tuple(signature)

    def _update(self, state: FleetState, names: Iterable[str], now: datetime) -> None:
        first, last = self._view()
        for name in names:
            row = state.rows.get(name)
            shown = self._shown.get(name)
            if row is None or not self.shows(row):
                if shown is not None:
                    self.remove_row(name)
                    del self._shown[name]
                    self._pending.discard(name)
                continue
            if shown is not None and not first <= self.get_row_index(name) < last:
                # Any cell update makes DataTable redraw every visible line, so a row out of
                # view waits until it scrolls in; with thousands of rows most changes are
                # out of view, and this is what keeps the frames cheap.
                self._pending.add(name)
                self._unsorted = True
                continue
            self._pending.discard(name)
            cells = self._cells(row, now)
            signature = self._signature(cells)
            if shown is None:
                self.add_row(*cells, key=name)
                self._unsorted = True
            else:
                for (key, _, _, _), cell, old, new in zip(
                    COLUMNS, cells, shown, signature, strict=True
                ):
                    if old != new:
                        self.update_cell(name, key.value, cell)
                if shown[0] != signature[0] or shown[4] != signature[4]:
                    self._unsorted = True
            self._shown[name] = signature

    def _view(self) -> tuple[int, int]:
        """The row indices in view, with a row of margin either side."""
        first = max(0, int(self.scroll_y) - 1)
        return first, min(self.row_count, first + self.size.height + 2)

    def _names_in_view(self) -> list[str]:
        first, last = self._view()
        found = []
        for index in range(first, last):
            key = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
            if key is not None:
                found.append(key)
        return found

    def _draw_pending_in_view(self) -> None:
        if not self._pending or self._fleet is None:
            return
        waiting = [n for n in self._names_in_view() if n in self._pending]
        if waiting:
            self._update(self._fleet, waiting, self._now)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._draw_pending_in_view()

    def resort(self, state: FleetState) -> None:
        """Put the rows back in the sort order, keeping the cursor on the same target."""
        selected = self.selected_name()
        rows = sort_rows((state.rows[n] for n in self._shown if n in state.rows), self.sort_spec)
        # DataTable.sort hands the key function cell values only, so rank by the name cell's
        # text as drawn (names are unique; the signature remembers the text of each).
        rank = {self._shown[row.name][1][0]: i for i, row in enumerate(rows)}
        self.sort(SortColumn.NAME.value, key=lambda cell: rank.get(cell.plain, len(rank)))
        self._unsorted = False
        self._restore_cursor(selected)
        self._draw_pending_in_view()

    @property
    def unsorted(self) -> bool:
        """Rows were added or changed their sort values since the last sort."""
        return self._unsorted

    # ---- selection

    def selected_name(self) -> str | None:
        """The target under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:  # the cursor can sit past the end after removals
            return None
        return None if key.value is None else str(key.value)

    def cursor_sort_column(self) -> SortColumn:
        """The current column, as a sort column."""
        return COLUMNS[self.current_column][0]

    def sort_by(self, column: SortColumn, state: FleetState) -> None:
        """Sort by ``column``, reversing when it is already the sort column."""
        self.sort_spec = self.sort_spec.toggled(column)
        self.current_column = [c for c, _, _, _ in COLUMNS].index(column)
        self.relabel()
        self.resort(state)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.post_message(self.SortRequested(SortColumn(str(event.column_key.value))))

    class SortRequested(Message):
        """The operator clicked a column heading."""

        def __init__(self, column: SortColumn) -> None:
            super().__init__()
            self.column = column
            """The column to sort by."""

    def _restore_cursor(self, name: str | None) -> None:
        if name is not None and name in self._shown:
            self.move_cursor(row=self.get_row_index(name), animate=False, scroll=True)
