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

from textual import on, work
from textual.app import App
from textual.binding import BindingType
from textual.widgets import DataTable

from nephos.clock import Clock, SystemClock
from nephos.errors import StreamError
from nephos.model import Alert
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
from nephos.tui.recorded_time import RecordedTime
from nephos.tui.screens.detail import TargetDetail
from nephos.tui.screens.explain import AlertExplanation, Explainer
from nephos.tui.screens.instance_detail import InstanceDetail
from nephos.tui.screens.main import MainScreen
from nephos.tui.screens.modals import HelpScreen
from nephos.tui.state import Changes, FleetState, InstanceKey
from nephos.tui.widgets.alerts_table import AlertsTable
from nephos.tui.widgets.status_bar import PillView, StatusBar
from nephos.tui.widgets.target_table import TargetTable

__all__ = ["DEFAULT_URL", "RecordedTime", "WatchApp", "run_watch"]

DEFAULT_URL = "ws://127.0.0.1:8765/"
"""The hub that ``nephos sentinel run`` serves by default."""

_RESORT_TICKS = 5  # lazy re-sort: at most every 5 s and 5 s after the cursor last moved
_NO_ALERT = "no alert selected: tab to the alerts, or choose a target that has one"
_MAIN_ONLY = frozenset(
    {"filter", "sort", "drill", "ack", "explain", "switch_pane", "provider", "clear", "instances"}
)


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
        recorded_time: measure ages against the newest event's time instead of the clock, so
            that a replayed recording reads as it did when it was recorded.
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
        recorded_time: bool = False,
        explainer: Explainer | None = None,
    ) -> None:
        super().__init__()
        self.explainer: Explainer = explainer or self._explain_offline
        """What writes an alert's explanation for ``e`` (default: the template, offline)."""
        self.clock: Clock = clock or SystemClock()
        """Time for the client, the round trip and the countdowns."""
        self.view_clock: Clock = RecordedTime(self.clock) if recorded_time else self.clock
        """Time for the ages on screen: the clock, or the recording's time in a replay."""
        self.client = StreamClient(url, transport=transport, token=token, clock=self.clock, rng=rng)
        """The stream; only the stream worker iterates it."""
        self.fleet = FleetState()
        """Everything the stream has said, reduced."""
        self.connection = ConnectionState(Phase.OFFLINE)
        """The latest connection state the worker reported."""
        self.paused = False
        """Drawing is frozen; ingesting goes on."""
        self.main = MainScreen(
            self.fleet, TargetTable(stale_after=stale_after, id="targets"), self.view_clock
        )
        """The main screen."""
        self._frame_interval = frame_interval
        self._dirty = False
        self._paused_at = 0
        self._last_heard: float | None = None
        self._ticks = 0
        self._last_moved = 0  # the tick of the last re-sort or cursor move
        self._ended = False
        self.frames = 0
        """How many times the screen was redrawn from the state (for tests and the bench)."""

    # ---- layout

    def get_default_screen(self) -> MainScreen:
        return self.main

    @property
    def targets(self) -> TargetTable:
        """The main table."""
        return self.main.targets

    @property
    def alerts_pane(self) -> AlertsTable:
        """The alerts pane."""
        return self.main.alerts_pane

    def on_mount(self) -> None:
        self.set_interval(self._frame_interval, self._flush_if_dirty)
        self.set_interval(1.0, self.tick)
        self._consume()
        self._draw_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Actions about the main screen's rows are off while another screen is on top."""
        return action not in _MAIN_ONLY or self.screen is self.main

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
        else:
            self._ended = True  # the transport has nothing more: the end of a recording

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
        self._heard(snap.ts)

    def on_record_received(self, message: RecordReceived) -> None:
        self.fleet.apply(message.record, message.seq)
        self._heard(message.ts)

    def on_hub_notice(self, message: HubNotice) -> None:
        self.notify(message.text, severity=message.severity, markup=False)

    def _heard(self, ts: datetime | None) -> None:
        self._last_heard = self.clock.monotonic()
        self._dirty = True
        if ts is not None and isinstance(self.view_clock, RecordedTime):
            self.view_clock.advance_to(ts)

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
        now = self.view_clock.now()
        with self.batch_update():
            self.main.draw(changes, now)
            self._draw_status()
            self._draw_detail(changes, now)
        self.frames += 1

    def _draw_detail(self, changes: Changes, now: datetime) -> None:
        """Redraw a detail screen on top when something it shows changed."""
        screen = self.screen
        if isinstance(screen, TargetDetail):
            stale = screen.target in changes.targets or changes.alerts
            stale = stale or screen.instance_key in changes.instance_keys
        elif isinstance(screen, InstanceDetail):
            stale = screen.key in changes.instance_keys
            stale = stale or not screen.target_names.isdisjoint(changes.targets)
        else:
            return
        if stale or changes.reset:
            screen.show(self.fleet, now)

    def tick(self) -> None:
        """Once a second: ages and countdowns move, and the lazy re-sort."""
        self._ticks += 1
        self._draw_status()
        if self.paused:
            return
        with self.batch_update():
            self.main.tick(self.view_clock.now())
            table = self.main.table
            if self._ticks - self._last_moved >= _RESORT_TICKS and table.unsorted:
                table.resort(self.fleet)
                self._last_moved = self._ticks

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
        totals = self.fleet.totals()
        self.main.status.show(view, totals)
        if self.screen is not self.main:  # the detail screen has a header of its own
            for bar in self.screen.query(StatusBar):
                bar.show(view, totals)

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
        self.main.open_filter()

    def action_sort(self) -> None:
        """Sort by the current column, or reverse it."""
        self.main.sort_current()

    def action_pause(self) -> None:
        """Freeze drawing, or draw everything buffered and go on."""
        self.paused = not self.paused
        self._paused_at = self.fleet.applied
        if self.paused:
            self._draw_status()
        else:
            self.flush()

    def action_drill(self) -> None:
        """Open the detail screen of the target or instance under the cursor."""
        if self.main.showing_instances:
            key = self.main.instances.selected_key()
            if key is not None:
                self._open_instance(key)
            return
        name = self.targets.selected_name()
        if name is not None:
            self._open_detail(name)

    def action_instances(self) -> None:
        """Show the instances instead of the targets, or the targets again."""
        self.main.toggle_instances()
        self._last_moved = self._ticks

    @on(MainScreen.InstanceRequested)
    def _instance_chosen(self, message: MainScreen.InstanceRequested) -> None:
        self._open_instance(message.key)

    def _open_instance(self, key: InstanceKey) -> None:
        self.push_screen(InstanceDetail(key, self.fleet, self.view_clock))
        self.call_after_refresh(self._draw_status)

    @on(DataTable.RowHighlighted, "#targets, #instances")
    def _cursor_moved(self) -> None:
        # Re-sorting while the operator moves through the rows would pull them away.
        self._last_moved = self._ticks

    @on(MainScreen.DetailRequested)
    def _row_chosen(self, message: MainScreen.DetailRequested) -> None:
        self._open_detail(message.target)

    def _open_detail(self, name: str) -> None:
        self.push_screen(TargetDetail(name, self.fleet, self.view_clock))
        self.call_after_refresh(self._draw_status)

    def action_ack(self) -> None:
        """Acknowledge the selected alert, through the hub."""
        alert = self.main.selected_alert()
        if alert is None:
            self.notify(_NO_ALERT, severity="warning", timeout=3)
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
        """Explain the selected alert in a modal, fetched in the background."""
        alert = self.main.selected_alert()
        if alert is None:
            self.notify(_NO_ALERT, severity="warning", timeout=3)
            return
        self.push_screen(AlertExplanation(alert, self.explainer))

    async def _explain_offline(self, alert: Alert) -> str:
        from nephos.insights.explain import explain_text

        return await explain_text(alert, now=self.view_clock.now())

    def action_reconnect(self) -> None:
        """Try the hub now: cut a backoff wait short, or start again after going offline."""
        phase = self.connection.phase
        if phase is Phase.RECONNECTING:
            self.client.reconnect_now()
        elif phase is Phase.OFFLINE and self._ended:
            self.notify("the stream has ended (a recording plays once)", timeout=3)
        elif phase is Phase.OFFLINE:
            self._consume()
        else:
            self.notify(f"already {phase.value}", timeout=2)

    def action_switch_pane(self) -> None:
        """Move the focus between the targets and the alerts."""
        self.main.switch_pane()

    def action_provider(self, index: int) -> None:
        """Show only the provider of card ``index``; 0 shows them all."""
        provider = None if index == 0 else self.main.provider_at(index)
        if index == 0 or provider is not None:
            self.main.focus_provider(provider)

    def action_clear(self) -> None:
        """Clear the filter first, then the provider focus."""
        self.main.clear()


def run_watch(
    url: str | None,
    *,
    token: str | None,
    replay: str | None,
    transport: Transport | None = None,
    speed: float | None = 1.0,
    explainer: Explainer | None = None,
) -> int:
    """Run ``nephos watch`` in the terminal until the operator quits; returns the exit code.

    With ``replay`` a ``nephos tail --json`` recording plays instead of a hub; with
    ``transport`` (``nephos demo`` passes its in-process hub's) that transport is used.
    ``speed`` paces a replay (1.0 as recorded, None as fast as it draws). ``explainer`` writes
    the explanations ``e`` shows (default: the template narrator, offline).

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
    app = WatchApp(
        url=url or DEFAULT_URL,
        transport=transport,
        token=token,
        recorded_time=replay is not None,
        explainer=explainer,
    )
    result = app.run()
    return result if isinstance(result, int) else 0
