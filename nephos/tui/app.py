"""The ``nephos watch`` app: wiring of the stream worker, the view-model and the widgets.

One worker owns the :class:`~nephos.stream.client.StreamClient` and posts typed messages
(``nephos.tui.messages``); their handlers reduce them into :class:`FleetState` at once and set
a dirty flag, and a 10 Hz timer draws what changed inside ``batch_update``. Pause stops the
drawing, never the ingesting. A dropped stream is a state in the header, never an exit.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.widgets import DataTable, Footer, Input

from nephos.clock import Clock, SystemClock
from nephos.errors import StreamError
from nephos.stream.client import ConnectionState, Phase, StreamClient
from nephos.stream.transport import Transport
from nephos.tui.bindings import WATCH_BINDINGS, WatchCommands
from nephos.tui.messages import (
    ConnectionChanged,
    HubNotice,
    RecordReceived,
    SnapshotReceived,
    to_app_message,
)
from nephos.tui.query import FilterError, RowFilter, parse_filter
from nephos.tui.screens.detail import TargetDetail
from nephos.tui.screens.modals import AlertFacts, HelpScreen
from nephos.tui.state import FleetState
from nephos.tui.widgets.alerts_table import AlertsTable
from nephos.tui.widgets.provider_cards import ProviderCard, ProviderCards, card_label
from nephos.tui.widgets.status_bar import PillView, StatusBar
from nephos.tui.widgets.target_table import TargetTable

__all__ = ["DEFAULT_URL", "WatchApp", "run_watch"]

DEFAULT_URL = "ws://127.0.0.1:8765/"
"""The hub that ``nephos sentinel run`` serves by default."""

_RESORT_TICKS = 5  # lazy re-sort: at most every 5 s, so rows do not jump under the reader


class WatchApp(App[int]):
    """The live terminal UI over one hub.

    Args:
        url: the hub.
        transport: how to reach it (a WebSocket by default; MockTransport or ReplayTransport).
        token: the hub's bearer token.
        clock: wall and monotonic time for ages, countdowns and the client.
        rng: the backoff jitter's randomness.
        stale_after: rows whose latest result is older are dimmed.
        frame_interval: seconds between draws (0.1: at most 10 frames a second).
    """

    CSS_PATH = "watch.tcss"
    TITLE = "nephos watch"
    BINDINGS: ClassVar[list[BindingType]] = [*WATCH_BINDINGS]
    COMMANDS = App.COMMANDS | {WatchCommands}

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        transport: Transport | None = None,
        token: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        stale_after: timedelta = timedelta(minutes=5),
        frame_interval: float = 0.1,
    ) -> None:
        super().__init__()
        self.clock: Clock = clock or SystemClock()
        """Time for every age and countdown on screen."""
        self.client = StreamClient(url, transport=transport, token=token, clock=self.clock, rng=rng)
        """The stream; only the stream worker iterates it."""
        self.fleet = FleetState()
        """Everything the stream has said, reduced."""
        self.connection = ConnectionState(Phase.OFFLINE)
        """The latest connection state the worker reported."""
        self.paused = False
        """Drawing is frozen; ingesting goes on."""
        self._stale_after = stale_after
        self._frame_interval = frame_interval
        self._dirty = False
        self._paused_at = 0
        self._last_heard: float | None = None
        self._ticks = 0
        self.frames = 0
        """How many times the screen was redrawn from the state (for tests and the bench)."""

    # ---- layout

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield ProviderCards(id="cards")
        yield Input(placeholder="filter: text state:down provider:aws !is:flapping", id="filter")
        yield TargetTable(stale_after=self._stale_after, id="targets")
        yield AlertsTable(id="alerts")
        yield Footer()

    @property
    def targets(self) -> TargetTable:
        """The main table."""
        return self.query_one("#targets", TargetTable)

    @property
    def alerts_pane(self) -> AlertsTable:
        """The alerts pane."""
        return self.query_one("#alerts", AlertsTable)

    def on_mount(self) -> None:
        self.targets.focus()
        self.set_interval(self._frame_interval, self._flush_if_dirty)
        self.set_interval(1.0, self.tick)
        self._consume()
        self._draw_status()

    # ---- the stream worker: the only code that iterates the client

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def _consume(self) -> None:
        try:
            async for message in self.client.messages():
                app_message = to_app_message(message)
                if app_message is not None:
                    self.post_message(app_message)
        except StreamError as exc:  # refused token, gave up, another protocol: a state only
            self.post_message(HubNotice(str(exc), severity="error"))

    def on_connection_changed(self, message: ConnectionChanged) -> None:
        previous, self.connection = self.connection.phase, message.state
        if message.state.phase is Phase.RECONNECTING and previous is Phase.LIVE:
            self.notify("lost the hub; reconnecting", severity="warning", timeout=3)
        elif message.state.phase is Phase.LIVE and previous is Phase.RECONNECTING:
            self.notify("live again", timeout=2)
        self._draw_status()

    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        snap = message.snapshot
        self.fleet.apply_snapshot(
            snap.seq, results=snap.results, alerts=snap.alerts, instances=snap.instances
        )
        self._heard()

    def on_record_received(self, message: RecordReceived) -> None:
        self.fleet.apply(message.record, message.seq)
        self._heard()

    def on_hub_notice(self, message: HubNotice) -> None:
        self.notify(message.text, severity=message.severity, markup=False)  # type: ignore[arg-type]

    def _heard(self) -> None:
        self._last_heard = self.clock.monotonic()
        self._dirty = True

    # ---- drawing

    def _flush_if_dirty(self) -> None:
        if self._dirty:
            self.flush()

    def flush(self) -> None:
        """Draw what changed since the last frame (only the header while paused)."""
        if self.paused:
            self._draw_status()
            return
        self._dirty = False
        changes = self.fleet.take_changes()
        now = self.clock.now()
        with self.batch_update():
            if changes:
                self.targets.apply(self.fleet, changes, now)
                self._draw_table_title()
            if changes.alerts or changes.reset:
                self.alerts_pane.show(self.fleet.open_alerts(), now)
            self._draw_cards()
            self._draw_status()
            screen = self.screen
            if isinstance(screen, TargetDetail) and (
                changes.reset or changes.alerts or screen.target in changes.targets
            ):
                screen.show(self.fleet, now)
        self.frames += 1

    def tick(self) -> None:
        """Once a second: ages and countdowns move, and the lazy re-sort."""
        self._ticks += 1
        self._draw_status()
        if self.paused:
            return
        now = self.clock.now()
        with self.batch_update():
            self.targets.refresh_ages(self.fleet, now)
            if self._ticks % _RESORT_TICKS == 0 and self.targets.unsorted:
                self.targets.resort(self.fleet)

    def _draw_status(self) -> None:
        since = None
        if self._last_heard is not None:
            since = timedelta(seconds=max(0.0, self.clock.monotonic() - self._last_heard))
        retry_in = None
        if self.connection.retry_at is not None:
            retry_in = max(0.0, self.connection.retry_at - self.clock.monotonic())
        view = PillView(
            state=self.connection,
            rtt_ms=self.client.rtt_ms,
            since_update=since,
            retry_in=retry_in,
            paused=self.paused,
            buffered=self.buffered,
        )
        self.query_one(StatusBar).show(view, self.fleet.totals())

    def _draw_cards(self) -> None:
        self.query_one(ProviderCards).show(self.fleet.providers(), self.targets.provider)

    def _draw_table_title(self) -> None:
        table = self.targets
        title = Text(f"targets · {table.row_count} of {len(self.fleet.rows)}")
        if table.provider is not None:
            title.append(f" · {card_label(table.provider)}")
        if table.row_filter:
            title.append(" · filter: ")
            title.append(table.row_filter.text[:40], style="bold")
        title.append(f" · sort {table.sort_spec.describe()}", style="dim")
        table.border_title = title

    def _redraw_table(self) -> None:
        with self.batch_update():
            self.targets.rebuild(self.fleet, self.clock.now())
            self._draw_table_title()
            self._draw_cards()

    @property
    def buffered(self) -> int:
        """Records ingested since drawing was paused."""
        return self.fleet.applied - self._paused_at if self.paused else 0

    # ---- actions (the binding table in nephos.tui.bindings names them)

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(HelpScreen())

    def action_filter(self) -> None:
        """Open the filter input."""
        box = self.query_one("#filter", Input)
        box.add_class("-visible")
        box.focus()

    def action_sort(self) -> None:
        """Sort by the current column, or reverse it."""
        table = self.targets
        table.sort_by(table.cursor_sort_column(), self.fleet)
        self._draw_table_title()

    @on(TargetTable.SortRequested)
    def _sort_clicked(self, message: TargetTable.SortRequested) -> None:
        self.targets.sort_by(message.column, self.fleet)
        self._draw_table_title()

    def action_pause(self) -> None:
        """Freeze drawing, or draw everything buffered and go on."""
        self.paused = not self.paused
        self._paused_at = self.fleet.applied
        if self.paused:
            self._draw_status()
        else:
            self.flush()

    def action_drill(self) -> None:
        """Open the detail screen of the target under the cursor."""
        name = self.targets.selected_name()
        if name is not None:
            self._open_detail(name)

    @on(DataTable.RowSelected, "#targets")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._open_detail(str(event.row_key.value))

    def _open_detail(self, name: str) -> None:
        self.push_screen(TargetDetail(name, self.fleet, self.clock))

    def action_ack(self) -> None:
        """Acknowledge the alert under the alerts pane's cursor, through the hub."""
        alert = self.alerts_pane.selected()
        if alert is None:
            self.notify("no alert selected", severity="warning", timeout=2)
            return
        self._send_ack(alert.id)

    @work(group="ack", exit_on_error=False)
    async def _send_ack(self, alert_id: str) -> None:
        try:
            await self.client.send_ack(alert_id)
        except StreamError as exc:
            self.notify(f"cannot acknowledge {alert_id}: {exc}", severity="error", markup=False)
            return
        self.notify(f"acknowledging {alert_id}", timeout=2, markup=False)

    def action_explain(self) -> None:
        """Show the recorded facts of the alert under the alerts pane's cursor."""
        alert = self.alerts_pane.selected()
        if alert is None:
            self.notify("no alert selected", severity="warning", timeout=2)
            return
        self.push_screen(AlertFacts(alert))

    def action_reconnect(self) -> None:
        """Try the hub now: cut a backoff wait short, or start again after going offline."""
        phase = self.connection.phase
        if phase is Phase.RECONNECTING:
            self.client.reconnect_now()
        elif phase is Phase.OFFLINE:
            self._consume()
        else:
            self.notify(f"already {phase.value}", timeout=2)

    def action_switch_pane(self) -> None:
        """Move the focus between the targets and the alerts."""
        (self.alerts_pane if self.targets.has_focus else self.targets).focus()

    def action_provider(self, index: int) -> None:
        """Show only the provider of card ``index``; 0 shows them all."""
        provider = None if index == 0 else self.query_one(ProviderCards).provider_at(index)
        if index and provider is None:
            return
        self._focus_provider(provider)

    @on(ProviderCard.Selected)
    def _card_clicked(self, message: ProviderCard.Selected) -> None:
        same = message.provider == self.targets.provider
        self._focus_provider(None if same else message.provider)

    def _focus_provider(self, provider: str | None) -> None:
        self.targets.provider = provider
        self._redraw_table()

    def action_clear(self) -> None:
        """Clear the filter first, then the provider focus."""
        box = self.query_one("#filter", Input)
        if box.has_class("-visible") or self.targets.row_filter:
            with box.prevent(Input.Changed):
                box.value = ""
            box.remove_class("-visible", "-error")
            box.border_subtitle = None
            self.targets.focus()
            self._apply_filter(parse_filter(""))
        elif self.targets.provider is not None:
            self._focus_provider(None)

    # ---- the filter input

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        try:
            row_filter = parse_filter(event.value)
        except FilterError as exc:
            event.input.border_subtitle = Text(str(exc))
            event.input.add_class("-error")
            return
        event.input.border_subtitle = None
        event.input.remove_class("-error")
        self._apply_filter(row_filter)

    def _apply_filter(self, row_filter: RowFilter) -> None:
        if row_filter.text != self.targets.row_filter.text:
            self.targets.row_filter = row_filter
            self._redraw_table()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.input.remove_class("-visible")
        self.targets.focus()

    def now(self) -> datetime:
        """The app's clock, for screens that need the time."""
        return self.clock.now()


def run_watch(
    url: str | None,
    *,
    token: str | None,
    replay: str | None,
    transport: Transport | None = None,
    speed: float | None = 1.0,
) -> int:
    """Run ``nephos watch`` in the terminal until the operator quits; returns the exit code.

    With ``replay`` a ``nephos tail --json`` recording plays instead of a hub; with
    ``transport`` (``nephos demo`` passes its in-process hub's) that transport is used.
    ``speed`` paces a replay (1.0 as recorded, None as fast as it draws).

    Raises:
        UsageError: the recording does not exist.
    """
    if replay is not None:
        import pathlib

        from nephos.errors import UsageError
        from nephos.stream.replay import ReplayTransport

        if not pathlib.Path(replay).is_file():
            raise UsageError(f"no recording at {replay}")
        transport = ReplayTransport(replay, speed=speed)
        url = url or "replay://recording/"
    app = WatchApp(url=url or DEFAULT_URL, transport=transport, token=token)
    result = app.run()
    return result if isinstance(result, int) else 0
