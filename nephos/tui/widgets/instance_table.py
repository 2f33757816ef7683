"""The instances view: one row per instance, keyed by provider and id, updated cell by cell.

Like the targets table it draws :class:`~nephos.tui.state.FleetState` through a filter, a
provider focus and a lazy sort. Metric events arrive far more often than anything else, so a
change touches only the cells whose text changed, and only for rows in view; a row out of view
catches up when it scrolls in, and the whole view catches up when it is shown again.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey

from nephos.model import Instance
from nephos.tui.cells import instance_state_cell, percent_cell, plain
from nephos.tui.instance_query import (
    InstanceColumn,
    InstanceSort,
    instance_matches,
    sort_instances,
)
from nephos.tui.query import RowFilter
from nephos.tui.state import FleetState, InstanceKey

__all__ = ["INSTANCE_COLUMNS", "InstanceTable", "instance_row_key"]

INSTANCE_COLUMNS: tuple[tuple[InstanceColumn, str, int, int], ...] = (
    (InstanceColumn.STATE, "state", 13, 9),
    (InstanceColumn.NAME, "name", 0, 0),  # takes the width the others leave
    (InstanceColumn.PROVIDER, "provider", 8, 6),
    (InstanceColumn.REGION, "region", 11, 6),
    (InstanceColumn.SIZE, "size", 11, 5),
    (InstanceColumn.CPU, "cpu", 14, 8),
    (InstanceColumn.MEM, "mem", 14, 8),
    (InstanceColumn.HEALTH, "health", 10, 5),
)
"""Column key, heading, and width on wide and on narrow terminals (under about 120 cells)."""

_NAME_MIN = 12
_NAME_WIDE = 16  # the other columns grow only while the name keeps this width
_GROW_ORDER = (0, 5, 6, 3, 2, 4, 7)  # state, cpu, mem, region, provider, size, health
_CPU, _MEM = 5, 6  # column indices

_Signature = tuple[tuple[str, str], ...]


def instance_row_key(key: InstanceKey) -> str:
    """The table's row key of an instance: ``provider/id``."""
    return f"{key[0]}/{key[1]}"


class InstanceTable(DataTable[Text]):
    """Instances, keyed by ``provider/id``."""

    class SortRequested(Message):
        """The operator clicked a column heading."""

        def __init__(self, column: InstanceColumn) -> None:
            super().__init__()
            self.column = column
            """The column to sort by."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.row_filter = RowFilter()
        """The filter the operator typed (parsed with the instances' fields)."""
        self.provider: str | None = None
        """Show only this provider's instances; None for all."""
        self.sort_spec = InstanceSort()
        """The current order."""
        self.current_column = 0
        """The column ``s`` sorts by."""
        self._shown: dict[str, _Signature] = {}
        self._keys: dict[str, InstanceKey] = {}
        self._pending: set[str] = set()
        self._fleet: FleetState | None = None
        self._unsorted = False
        self._widths = [wide for _, _, wide, _ in INSTANCE_COLUMNS]

    def on_mount(self) -> None:
        for key, heading, width, _ in INSTANCE_COLUMNS:
            self.add_column(heading, key=key.value, width=width or _NAME_MIN)
        self.relabel()

    def relabel(self) -> None:
        """Mark the sorted column with its direction and underline the current column."""
        for index, (key, heading, _, _) in enumerate(INSTANCE_COLUMNS):
            label = Text(heading)
            if key is self.sort_spec.column:
                label.append(" ↑" if self.sort_spec.reverse else " ↓")
            if index == self.current_column:
                label.stylize("underline")
            self.columns[ColumnKey(key.value)].label = label
        self.refresh()

    def action_cursor_left(self) -> None:
        self.current_column = max(0, self.current_column - 1)
        self.relabel()

    def action_cursor_right(self) -> None:
        self.current_column = min(len(INSTANCE_COLUMNS) - 1, self.current_column + 1)
        self.relabel()

    def on_resize(self, event: events.Resize) -> None:
        if not self.columns:
            return
        widths = self._fit(event.size.width)
        for (key, _, _, _), width in zip(INSTANCE_COLUMNS, widths, strict=True):
            self.columns[ColumnKey(key.value)].width = width
        resized = widths != self._widths
        self._widths = widths
        # DataTable re-measures its columns only when asked; there is no public way to ask.
        self._require_update_dimensions = True
        self.refresh()
        if resized and self._fleet is not None:  # the sparklines fit the new widths
            self._pending.update(self._shown)
            self._draw_pending_in_view()

    def _fit(self, width: int) -> list[int]:
        """Column widths for ``width`` cells: the narrow ones, grown toward the wide ones while
        the name keeps a fair width, the name taking the rest; no column is pushed out."""
        padding = 2 * self.cell_padding * len(INSTANCE_COLUMNS) + 4  # border and scrollbar
        widths = [narrow for _, _, _, narrow in INSTANCE_COLUMNS]
        spare = width - padding - sum(widths) - _NAME_WIDE
        for index in _GROW_ORDER:
            grow = min(max(0, spare), INSTANCE_COLUMNS[index][2] - widths[index])
            widths[index] += grow
            spare -= grow
        widths[1] = max(_NAME_MIN, width - padding - sum(widths) + widths[1])
        return widths

    # ---- what a row shows

    def shows(self, instance: Instance) -> bool:
        """Whether ``instance`` passes the provider focus and the filter."""
        if self.provider is not None and instance.provider != self.provider:
            return False
        return instance_matches(self.row_filter, instance)

    def _cells(self, state: FleetState, instance: Instance) -> list[Text]:
        return [
            instance_state_cell(instance.state),
            plain(instance.name or instance.id),
            plain(instance.provider),
            plain(instance.region or instance.zone or "—"),
            plain(instance.size or "—"),
            percent_cell(state.instance_values(instance, "cpu_percent"), self._widths[_CPU]),
            percent_cell(state.instance_values(instance, "mem_percent"), self._widths[_MEM]),
            plain(instance.health_signal or "—"),
        ]

    @staticmethod
    def _signature(cells: list[Text]) -> _Signature:
        return tuple((cell.plain, str(cell.style)) for cell in cells)

    # ---- drawing

    def rebuild(self, state: FleetState) -> None:
        """Clear and refill in sorted order, keeping the cursor on the same instance."""
        self._fleet = state
        selected = self.selected_key()
        self.clear()
        self._shown, self._keys, self._pending = {}, {}, set()
        shown = (i for i in state.instances.values() if self.shows(i))
        for instance in sort_instances(state, shown, self.sort_spec):
            key = (instance.provider, instance.id)
            name = instance_row_key(key)
            cells = self._cells(state, instance)
            self._shown[name], self._keys[name] = self._signature(cells), key
            self.add_row(*cells, key=name)
        self._unsorted = False
        self._restore_cursor(selected)

    def apply(self, state: FleetState, keys: Iterable[InstanceKey]) -> None:
        """Draw the instances ``keys`` name: added, updated in place, or removed by the filter."""
        self._fleet = state
        first, last = self._view()
        for key in keys:
            name = instance_row_key(key)
            instance = state.instances.get(key)
            shown = self._shown.get(name)
            if instance is None or not self.shows(instance):
                if shown is not None:
                    self.remove_row(name)
                    del self._shown[name], self._keys[name]
                    self._pending.discard(name)
                continue
            if shown is not None and not first <= self.get_row_index(name) < last:
                # Any cell update redraws every visible line: rows out of view wait.
                self._pending.add(name)
                self._unsorted = True
                continue
            self._pending.discard(name)
            cells = self._cells(state, instance)
            signature = self._signature(cells)
            if shown is None:
                self.add_row(*cells, key=name)
                self._keys[name] = key
                self._unsorted = True
            else:
                for (column, _, _, _), cell, old, new in zip(
                    INSTANCE_COLUMNS, cells, shown, signature, strict=True
                ):
                    if old != new:
                        self.update_cell(name, column.value, cell)
                        self._unsorted = True
            self._shown[name] = signature

    def _view(self) -> tuple[int, int]:
        first = max(0, int(self.scroll_y) - 1)
        return first, min(self.row_count, first + self.size.height + 2)

    def _draw_pending_in_view(self) -> None:
        if not self._pending or self._fleet is None:
            return
        first, last = self._view()
        waiting = []
        for index in range(first, last):
            name = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
            if name in self._pending:
                waiting.append(self._keys[name])
        if waiting:
            self.apply(self._fleet, waiting)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._draw_pending_in_view()

    def resort(self, state: FleetState) -> None:
        """Put the rows back in the sort order, keeping the cursor on the same instance."""
        selected = self.selected_key()
        present = [state.instances[k] for k in self._keys.values() if k in state.instances]
        ranked = sort_instances(state, present, self.sort_spec)
        order = [instance_row_key((i.provider, i.id)) for i in ranked]
        # A few hundred rows: refilling in the new order costs less than DataTable.sort, whose
        # key function sees cell values only; nothing is refilled when the order holds.
        if order != [row.key.value for row in self.ordered_rows]:
            self.rebuild(state)
            return
        self._unsorted = False
        self._restore_cursor(selected)

    @property
    def unsorted(self) -> bool:
        """Rows were added or changed since the last sort."""
        return self._unsorted

    # ---- selection

    def selected_key(self) -> InstanceKey | None:
        """(provider, id) of the instance under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:  # the cursor can sit past the end after removals
            return None
        return self._keys.get(str(key.value)) if key.value is not None else None

    def cursor_sort_column(self) -> InstanceColumn:
        """The current column, as a sort column."""
        return INSTANCE_COLUMNS[self.current_column][0]

    def sort_by(self, column: InstanceColumn, state: FleetState) -> None:
        """Sort by ``column``, reversing when it is already the sort column."""
        self.sort_spec = self.sort_spec.toggled(column)
        self.current_column = [c for c, _, _, _ in INSTANCE_COLUMNS].index(column)
        self.relabel()
        self.rebuild(state)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self.post_message(self.SortRequested(InstanceColumn(str(event.column_key.value))))

    def _restore_cursor(self, key: InstanceKey | None) -> None:
        if key is not None and instance_row_key(key) in self._shown:
            row = self.get_row_index(instance_row_key(key))
            self.move_cursor(row=row, animate=False, scroll=True)
