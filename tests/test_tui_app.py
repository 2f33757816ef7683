"""nephos watch driven by Pilot over the MockTransport: keys, filter, sort, pause, drill-down,
acks through the client, and the connection pill through a disconnect."""

from __future__ import annotations

import asyncio
import gc
import io
import random
import weakref
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from nephos.clock import ManualClock
from nephos.model import (
    Alert,
    AlertState,
    EventKind,
    Health,
    Instance,
    InstanceState,
    Severity,
    to_dict,
)
from nephos.stream.client import Phase
from nephos.stream.mock import MockTransport
from nephos.stream.protocol import Ack, ErrorMessage, EventMessage, Lag, Snapshot, encode
from nephos.stream.replay import ReplayTransport
from nephos.tui.app import WatchApp
from nephos.tui.bindings import WATCH_BINDINGS, WatchCommands
from nephos.tui.sample import sample_alert, sample_result, sample_snapshot
from nephos.tui.screens.detail import TargetDetail
from nephos.tui.screens.explain import AlertExplanation
from nephos.tui.screens.modals import HelpScreen
from nephos.tui.widgets.provider_cards import ProviderCard
from nephos.tui.widgets.status_bar import StatusBar
from nephos.tui.widgets.target_table import TargetTable

MARKUP_NAME = "[bold]x[/bold]"


def fleet_snapshot(clock: ManualClock) -> Snapshot:
    """Eight targets over four providers, one named with markup, two firing alerts."""
    now = clock.now()
    ago = lambda s: now - timedelta(seconds=s)  # noqa: E731
    results = (
        sample_result("api-gateway", ago(12), provider="aws", latency_ms=38),
        sample_result("billing", ago(30), provider="aws", health=Health.UNHEALTHY, latency_ms=2900),
        sample_result("auth", ago(8), provider="aws", region="eu-west-1", latency_ms=61),
        sample_result("edge-ams", ago(20), provider="vultr", region="ams", latency_ms=120),
        sample_result(
            "edge-nrt",
            ago(5),
            provider="vultr",
            region="nrt",
            health=Health.DEGRADED,
            latency_ms=1240,
            flapping=True,
        ),
        sample_result("search", ago(45), provider="gcp", region="us-central1", latency_ms=88),
        sample_result(MARKUP_NAME, ago(3), provider="azure", region="westeurope", latency_ms=77),
        sample_result("legacy", ago(400), provider="other", region=None, latency_ms=15),
    )
    alerts = (
        sample_alert("al-billing", "billing", ago(300)),
        sample_alert(
            "al-edge",
            "edge-nrt",
            ago(60),
            severity=Severity.WARNING,
            provider="vultr",
            title="edge-nrt is slow",
        ),
    )
    return Snapshot(seq=0, ts=now, results=results, alerts=alerts)


def make_app(
    clock: ManualClock, *, frame_interval: float = 3600.0
) -> tuple[WatchApp, MockTransport]:
    """An app over a MockTransport holding :func:`fleet_snapshot`.

    The long frame interval leaves drawing to :func:`settle`, so tests decide when a frame is
    drawn; one test checks the timer on its own.
    """
    transport = MockTransport(snapshot=fleet_snapshot(clock), clock=clock)
    app = WatchApp(
        url="ws://mock/",
        transport=transport,
        clock=clock,
        rng=random.Random(3),
        frame_interval=frame_interval,
    )
    return app, transport


async def until(pilot: Pilot[int], condition: object, limit: int = 500) -> None:
    """Let the app run until ``condition()`` holds (no sleeping: each step drains messages)."""
    for _ in range(limit):
        if condition():  # type: ignore[operator]
            return
        await pilot.pause()
    raise AssertionError("the app never got there")


async def settle(pilot: Pilot[int], transport: MockTransport, *, draw: bool = True) -> None:
    """Wait until the app has ingested everything the hub published, then draw one frame."""
    app = pilot.app
    assert isinstance(app, WatchApp)
    await until(pilot, lambda: app.fleet.applied > 0 and app.fleet.seq >= transport.latest_seq)
    if draw:
        app.flush()
    await pilot.pause()


def names(table: DataTable[object]) -> list[str]:
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


def plain(markup: str | None) -> str:
    """A border title (which Textual hands back as markup) as the text on screen."""
    return Text.from_markup(markup or "").plain


def pill(app: WatchApp) -> str:
    status = app.query_one(StatusBar)
    return str(status.query_one("#pill").render())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_snapshot_draws_one_keyed_row_per_target_worst_first(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        table = app.targets
        assert table.row_count == 8
        assert names(table)[:2] == ["billing", "edge-nrt"]
        assert table.get_cell("billing", "state").plain == "✕ down"
        assert table.get_cell("edge-nrt", "flap").plain == "⇅"
        assert app.alerts_pane.row_count == 2
        assert "LIVE" in pill(app)


async def test_an_event_updates_its_row_in_place(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        before = names(app.targets)
        clock.advance(2)
        transport.publish(
            EventKind.CHECK,
            to_dict(
                sample_result(
                    "search",
                    clock.now(),
                    provider="gcp",
                    health=Health.UNHEALTHY,
                    latency_ms=3100,
                    region="us-central1",
                )
            ),
        )
        await settle(pilot, transport)
        assert names(app.targets) == before  # updated in place, re-sorted only lazily
        assert app.targets.get_cell("search", "state").plain == "✕ down"
        assert app.targets.get_cell("search", "latency").plain == "3.10 s"
        assert app.targets.get_cell("search", "checked").plain == "0s"


async def test_a_target_named_with_markup_is_shown_literally(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        cell = app.targets.get_cell(MARKUP_NAME, "name")
        assert cell.plain == MARKUP_NAME
        assert cell.spans == []
        app.targets.move_cursor(row=app.targets.get_row_index(MARKUP_NAME))
        await pilot.press("enter")
        assert isinstance(app.screen, TargetDetail)
        title = app.screen.query_one("#detail-title").render()
        assert MARKUP_NAME in str(title)


async def test_events_are_drawn_in_coalesced_frames(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        frames = app.frames
        for i in range(20):
            transport.publish(
                EventKind.CHECK,
                to_dict(
                    sample_result("auth", clock.now() + timedelta(seconds=i), latency_ms=50 + i)
                ),
            )
        await settle(pilot, transport, draw=False)
        assert app.frames == frames  # ingested, not drawn
        assert app.targets.get_cell("auth", "latency").plain == "61 ms"
        app.flush()
        assert app.frames == frames + 1
        assert app.targets.get_cell("auth", "latency").plain == "69 ms"


async def test_the_frame_timer_draws_what_arrived(clock: ManualClock) -> None:
    app, _ = make_app(clock, frame_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.targets.row_count == 8)
        assert app.frames >= 1


async def test_filter_by_state_and_provider_and_escape_clears_it(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("slash")
        assert app.focused is app.query_one("#filter", Input)
        await pilot.press(*"state:down,degraded !provider:aws", "enter")
        assert names(app.targets) == ["edge-nrt"]
        assert app.focused is app.targets
        assert "filter: state:down,degraded !provider:aws" in plain(app.targets.border_title)
        await pilot.press("escape")
        assert app.targets.row_count == 8


async def test_a_bad_filter_is_flagged_and_the_last_good_one_stays(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("slash", *"edge")
        box = app.query_one("#filter", Input)
        box.value = "edge state:sideways"  # as if pasted
        await pilot.pause()
        assert box.has_class("-error")
        assert "state:sideways is not one of" in plain(box.border_subtitle)
        assert sorted(names(app.targets)) == ["edge-ams", "edge-nrt"]


async def test_s_sorts_by_the_current_column_and_again_reverses(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("right", "s")  # the name column
        ordered = sorted(names(app.targets), key=str.casefold)
        assert names(app.targets) == ordered
        await pilot.press("s")
        assert names(app.targets) == ordered[::-1]
        assert "sort name ↑" in plain(app.targets.border_title)


async def test_pause_keeps_ingesting_and_counts_what_it_buffers(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("p")
        for i in range(3):
            transport.publish(
                EventKind.CHECK,
                to_dict(
                    sample_result(
                        "api-gateway",
                        clock.now() + timedelta(seconds=i + 1),
                        health=Health.UNHEALTHY,
                    )
                ),
            )
        await settle(pilot, transport)  # a frame while paused draws the header only
        assert app.fleet.rows["api-gateway"].health is Health.UNHEALTHY
        assert app.targets.get_cell("api-gateway", "state").plain == "● ok"
        assert app.buffered == 3
        assert "PAUSED" in pill(app)
        assert "3 buffered" in pill(app)
        await pilot.press("p")
        assert app.targets.get_cell("api-gateway", "state").plain == "✕ down"
        assert "PAUSED" not in pill(app)


async def test_enter_opens_the_detail_screen_and_escape_goes_back(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("enter")  # the cursor is on the worst row: billing
        screen = app.screen
        assert isinstance(screen, TargetDetail)
        assert screen.target == "billing"
        assert screen.query_one("#results", DataTable).row_count == 1
        assert screen.query_one("#target-alerts", DataTable).row_count == 1
        clock.advance(10)
        transport.publish(
            EventKind.CHECK,
            to_dict(sample_result("billing", clock.now(), health=Health.HEALTHY, latency_ms=44)),
        )
        await settle(pilot, transport)
        assert screen.query_one("#results", DataTable).row_count == 2
        await pilot.press("escape")
        assert not isinstance(app.screen, TargetDetail)
        assert app.targets.get_cell("billing", "state").plain == "● ok"


async def test_a_acknowledges_the_selected_alert_through_the_client(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("tab", "a")
        await until(pilot, lambda: any(isinstance(m, Ack) for m in transport.received))
        assert [m for m in transport.received if isinstance(m, Ack)] == [Ack("al-edge")]
        # The hub commits the ack and streams the alert back.
        alert = next(a for a in fleet_snapshot(clock).alerts if a.id == "al-edge")
        transport.publish(
            EventKind.ALERT, to_dict(replace(alert, state=AlertState.ACKNOWLEDGED, version=1))
        )
        await settle(pilot, transport)
        assert app.alerts_pane.get_cell("al-edge", "state").plain.startswith("◆ acked")


async def test_acking_while_disconnected_says_so_and_keeps_running(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot, transport)
        transport.disconnect()
        await until(pilot, lambda: app.connection.phase is Phase.RECONNECTING)
        await pilot.press("a")
        await until(
            pilot, lambda: any("cannot acknowledge" in n.message for n in app._notifications)
        )
        assert app.is_running


async def test_e_explains_the_selected_alert_in_a_modal(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("e")  # the cursor is on billing: its alert
        screen = app.screen
        assert isinstance(screen, AlertExplanation)
        assert screen.alert.id == "al-billing"
        await until(pilot, lambda: screen.text is not None)
        body = str(screen.query_one("#explain-body", Static).render())
        assert "WHAT THIS MEANS" in body and "URGENCY: " in body
        assert "[STATUS] == 200" in body
        await pilot.press("escape", "tab", "e")  # in the alerts pane: the alert under its cursor
        assert isinstance(app.screen, AlertExplanation)
        assert app.screen.alert.id == "al-edge"
        await pilot.press("escape")
        assert not isinstance(app.screen, AlertExplanation)


async def test_esc_cancels_an_explanation_still_being_fetched(clock: ManualClock) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(alert: Alert) -> str:
        started.set()
        try:
            await asyncio.Event().wait()  # a narrator that never answers
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return ""

    app, transport = make_app(clock)
    app.explainer = slow
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, AlertExplanation)
        await until(pilot, started.is_set)
        assert screen.pending
        assert screen.query_one("#explain-spinner") is not None
        await pilot.press("escape")
        await until(pilot, cancelled.is_set)
        assert not isinstance(app.screen, AlertExplanation)
        assert app.is_running


async def test_a_on_a_target_without_alerts_says_so(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot, transport)
        app.targets.move_cursor(row=app.targets.get_row_index("auth"))
        await pilot.press("a")
        assert any("no alert selected" in n.message for n in app._notifications)
        assert not any(isinstance(m, Ack) for m in transport.received)


async def test_the_pill_follows_a_disconnect_and_a_reconnect(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        assert "LIVE" in pill(app)
        transport.disconnect()
        await until(pilot, lambda: app.connection.phase is Phase.RECONNECTING)
        text = pill(app)
        assert "RECONNECTING" in text
        assert "(1) in " in text
        assert "last update" in text
        assert app.targets.row_count == 8  # cached rows stay on screen
        await pilot.press("r")  # skip the backoff wait
        await until(pilot, lambda: app.connection.phase is Phase.LIVE)
        assert "LIVE" in pill(app)
        assert len(transport.urls) == 2
        assert app.is_running


async def test_a_refused_token_goes_offline_and_r_tries_again(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    transport.reject_auth()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.connection.phase is Phase.OFFLINE and transport.urls)
        await until(pilot, lambda: "OFFLINE" in pill(app))
        assert "401" in pill(app)
        transport.reject_auth(False)
        await pilot.press("r")
        await until(pilot, lambda: app.connection.phase is Phase.LIVE)
        assert app.is_running


async def test_number_keys_focus_a_provider_and_zero_shows_all(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("2")
        assert sorted(names(app.targets)) == ["edge-ams", "edge-nrt"]
        await pilot.press("1")
        assert sorted(names(app.targets)) == ["api-gateway", "auth", "billing"]
        await pilot.press("0")
        assert app.targets.row_count == 8


async def test_clicking_a_card_focuses_its_provider(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.click("ProviderCard.-unhealthy")
        assert app.targets.provider == "aws"
        assert app.targets.row_count == 3


async def test_stale_rows_are_dimmed(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        assert "dim" in str(app.targets.get_cell("legacy", "name").style)
        assert "dim" not in str(app.targets.get_cell("auth", "name").style)
        clock.advance(timedelta(minutes=6))
        app.tick()
        assert "dim" in str(app.targets.get_cell("auth", "name").style)
        assert app.targets.get_cell("auth", "checked").plain == "6m"


async def test_help_lists_every_binding_of_the_one_table(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(HelpScreen.keys_table())
        lines = console.export_text().splitlines()
        for binding in WATCH_BINDINGS:
            key = binding.key_display or binding.key
            assert any(line.split()[:1] == [key] and binding.tooltip in line for line in lines), (
                binding.id
            )
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_the_command_palette_offers_every_action(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        provider = WatchCommands(app.screen)
        found = [hit async for hit in provider.discover()]
        assert len(found) == len(WATCH_BINDINGS)
        hits = [hit async for hit in provider.search("pause")]
        assert hits
        await hits[0].command()  # type: ignore[misc]
        assert app.paused


async def test_q_quits(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("q")
    assert app.return_code == 0


def test_every_binding_names_an_action_of_the_app() -> None:
    missing = [
        b.action
        for b in WATCH_BINDINGS
        if not callable(getattr(WatchApp, "action_" + b.action.split("(")[0], None))
    ]
    assert missing == []
    assert len({b.id for b in WATCH_BINDINGS}) == len(WATCH_BINDINGS)


async def test_a_row_updated_out_of_view_shows_the_update_when_scrolled_to(
    clock: ManualClock,
) -> None:
    transport = MockTransport(snapshot=sample_snapshot(300, clock.now()), clock=clock)
    app = WatchApp(url="ws://mock/", transport=transport, clock=clock, frame_interval=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, transport)
        last = names(app.targets)[-1]
        row = app.fleet.rows[last]
        transport.publish(
            EventKind.CHECK,
            to_dict(replace(row.latest, ts=clock.now(), latency_ms=4321.0)),
        )
        await settle(pilot, transport)
        app.targets.move_cursor(row=app.targets.row_count - 1)
        await pilot.pause()
        assert app.targets.get_cell(last, "latency").plain == "4.32 s"
        assert app.targets.get_cell(last, "checked").plain == "0s"


def test_the_docs_list_every_key() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "watch.md").read_text()
    missing = [
        b.key_display or b.key
        for b in WATCH_BINDINGS
        if f"`{b.key_display or b.key}`" not in docs and not b.key.isdigit()
    ]
    assert missing == []
    assert "`1` to `5`" in docs


async def test_replay_plays_a_recording_in_its_own_time_and_stays_open_at_its_end(
    clock: ManualClock, tmp_path: Path
) -> None:
    recorded = ManualClock(clock.now() - timedelta(hours=1))  # a recording made an hour ago
    recording = tmp_path / "stream.jsonl"
    update = EventMessage(
        seq=1,
        kind=EventKind.CHECK,
        ts=recorded.now(),
        data=to_dict(sample_result("auth", recorded.now(), health=Health.DEGRADED)),
    )
    recording.write_text(encode(fleet_snapshot(recorded)) + "\n" + encode(update) + "\n")
    transport = ReplayTransport(recording, clock=clock)
    app = WatchApp(
        url="replay://", transport=transport, clock=clock, frame_interval=3600, recorded_time=True
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.connection.phase is Phase.OFFLINE and app.fleet.seq == 1)
        app.flush()
        assert app.targets.get_cell("auth", "state").plain == "▲ degraded"
        assert app.targets.get_cell("auth", "checked").plain == "0s"  # not "1h"
        assert app.targets.get_cell("search", "checked").plain == "45s"
        assert "end of recording" in pill(app)
        assert app.is_running


async def test_hub_trouble_is_told_once_and_the_app_goes_on(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot, transport)
        transport.publish(EventKind.CHECK, {"target": "half-a-record"})
        transport.send(ErrorMessage(code="not_found", message="no alert al-zz", ref="al-zz"))
        transport.send(Lag(seq=transport.latest_seq, dropped=40, count=1, limit=3))
        await until(pilot, lambda: len(app._notifications) >= 3)
        told = " | ".join(n.message for n in app._notifications)
        assert "skipped a malformed event" in told
        assert "hub: no alert al-zz (al-zz)" in told
        assert "40 events skipped" in told
        assert "half-a-record" not in app.fleet.rows
        assert app.is_running


async def test_a_resync_snapshot_replaces_the_rows(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        fresh = Snapshot(
            seq=transport.latest_seq + 5,
            ts=clock.now(),
            results=(sample_result("only-one", clock.now()),),
            resync=True,
        )
        transport.send(fresh)
        await until(pilot, lambda: list(app.fleet.rows) == ["only-one"])
        app.flush()
        assert names(app.targets) == ["only-one"]
        assert app.alerts_pane.row_count == 0


async def test_a_filter_on_a_large_fleet_applies_on_enter(clock: ManualClock) -> None:
    transport = MockTransport(snapshot=sample_snapshot(1040, clock.now()), clock=clock)
    app = WatchApp(url="ws://mock/", transport=transport, clock=clock, frame_interval=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("slash", *"provider:other state:down", "enter")
        shown = [app.fleet.rows[n] for n in names(app.targets)]
        assert len(shown) == 26  # every 40th of the sample fleet is down, all on "other"
        assert all(r.provider == "other" and r.health is Health.UNHEALTHY for r in shown)


def test_a_closed_app_leaves_nothing_behind(clock: ManualClock) -> None:
    """The app is meant to run for days: once it exits, its screens and rows are freed."""

    async def run() -> tuple[weakref.ref[WatchApp], weakref.ref[TargetTable]]:
        app, transport = make_app(clock)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, transport)
            await pilot.press("enter", "escape", "question_mark", "escape")
        return weakref.ref(app), weakref.ref(app.targets)

    app_ref, table_ref = asyncio.run(run())
    gc.collect()
    assert app_ref() is None
    assert table_ref() is None


async def test_instances_are_counted_on_their_provider_card(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        for i, machine in enumerate([InstanceState.RUNNING, InstanceState.STOPPED]):
            instance = Instance(provider="gcp", id=f"vm-{i}", name=f"vm{i}", state=machine)
            transport.publish(EventKind.INSTANCE, to_dict(instance))
        await settle(pilot, transport)
        card = next(c for c in app.query(ProviderCard) if c.provider == "gcp")
        assert "1/2 up" in str(card.render())
