"""Snapshots of nephos watch (pytest-textual-snapshot): the main screen, the detail screen,
help and the instances view at 120x40 and 80x24, and the instance detail screen, fed by the
MockTransport on a fixed clock."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from textual.pilot import Pilot

from nephos.clock import ManualClock
from nephos.model import EventKind, Health, to_dict
from nephos.tui.app import WatchApp
from nephos.tui.sample import sample_result
from tests.test_tui_app import make_app, settle, until

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


def _app() -> tuple[WatchApp, object]:
    clock = ManualClock()
    app, transport = make_app(clock)
    # A little history, so that the sparklines and the detail chart have something to draw.
    rng = random.Random(5)
    for step in range(12):
        clock.advance(1)
        for name, provider, region in (
            ("billing", "aws", "us-east-1"),
            ("edge-nrt", "vultr", "nrt"),
            ("api-gateway", "aws", "us-east-1"),
        ):
            health = Health.HEALTHY
            if name == "billing" and step > 6:
                health = Health.UNHEALTHY
            elif name == "edge-nrt" and step % 2:
                health = Health.DEGRADED
            transport.publish(
                EventKind.CHECK,
                to_dict(
                    sample_result(
                        name,
                        clock.now(),
                        provider=provider,
                        region=region,
                        health=health,
                        latency_ms=round(rng.uniform(30, 900), 1),
                        flapping=name == "edge-nrt",
                    )
                ),
            )
    return app, transport


def _ready(transport: object) -> object:
    async def run_before(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, WatchApp)
        await settle(pilot, transport)  # type: ignore[arg-type]
        await until(pilot, lambda: app.client.rtt_ms is not None)
        app.targets.resort(app.fleet)  # reach the lazy sort's fixed point now
        app.flush()
        app.tick()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: object, size: tuple[int, int]) -> None:
    app, transport = _app()
    assert snap_compare(app, terminal_size=size, run_before=_ready(transport))  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES)
def test_detail_screen(snap_compare: object, size: tuple[int, int]) -> None:
    app, transport = _app()
    ready = _ready(transport)

    async def run_before(pilot: Pilot[int]) -> None:
        await ready(pilot)  # type: ignore[operator]
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)  # type: ignore[operator]


@pytest.mark.parametrize("size", SIZES)
def test_help_screen(snap_compare: object, size: tuple[int, int]) -> None:
    app, transport = _app()
    ready = _ready(transport)

    async def run_before(pilot: Pilot[int]) -> None:
        await ready(pilot)  # type: ignore[operator]
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)  # type: ignore[operator]


def test_paused_with_a_filter(snap_compare: object) -> None:
    app, transport = _app()
    ready = _ready(transport)

    async def run_before(pilot: Pilot[int]) -> None:
        await ready(pilot)  # type: ignore[operator]
        await pilot.press("slash", *"!state:ok", "enter", "p")
        assert isinstance(pilot.app, WatchApp)
        clock = pilot.app.clock
        assert isinstance(clock, ManualClock)
        for i in range(4):
            transport.publish(  # type: ignore[attr-defined]
                EventKind.CHECK,
                to_dict(sample_result("auth", clock.now() + timedelta(seconds=i))),
            )
        await settle(pilot, transport)  # type: ignore[arg-type]

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)  # type: ignore[operator]


def test_main_screen_without_colour(snap_compare: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, transport = _app()
    assert app.no_color
    assert snap_compare(app, terminal_size=(80, 24), run_before=_ready(transport))  # type: ignore[operator]


def _instances_app() -> tuple[WatchApp, object]:
    from tests.test_tui_instances import make_app as make_instances_app
    from tests.test_tui_instances import publish_load

    clock = ManualClock()
    app, transport = make_instances_app(clock)
    publish_load(transport, clock)
    return app, transport


@pytest.mark.parametrize("size", SIZES)
def test_instances_view(snap_compare: object, size: tuple[int, int]) -> None:
    app, transport = _instances_app()
    ready = _ready(transport)

    async def run_before(pilot: Pilot[int]) -> None:
        await ready(pilot)  # type: ignore[operator]
        await pilot.press("i")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)  # type: ignore[operator]


def test_instance_detail_screen(snap_compare: object) -> None:
    app, transport = _instances_app()
    ready = _ready(transport)

    async def run_before(pilot: Pilot[int]) -> None:
        await ready(pilot)  # type: ignore[operator]
        await pilot.press("i")
        assert isinstance(pilot.app, WatchApp)
        table = pilot.app.main.instances
        table.move_cursor(row=table.get_row_index("aws/i-web-1"))
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)  # type: ignore[operator]
