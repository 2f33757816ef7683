"""nephos watch and instances: the view-model's metric rings, the instances view (`i`), its
filter and sort, the instance detail screen, and the target detail's instance line; Pilot over
the MockTransport on a ManualClock."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from textual.widgets import DataTable, Sparkline, Static

from nephos.clock import ManualClock
from nephos.model import EventKind, Instance, InstanceState, MetricPoint, to_dict
from nephos.stream.mock import MockTransport
from nephos.stream.protocol import Snapshot
from nephos.tui.app import WatchApp
from nephos.tui.sample import sample_instance, sample_metric, sample_result
from nephos.tui.screens.detail import TargetDetail
from nephos.tui.screens.instance_detail import InstanceDetail
from nephos.tui.state import FleetState
from tests.test_tui_app import fleet_snapshot, names, plain, settle

MARKUP_INSTANCE = "[red]evil[/red]"


def fleet_instances() -> tuple[Instance, ...]:
    return (
        sample_instance("web-1", provider="aws"),
        sample_instance("web-2", provider="aws", state=InstanceState.STOPPED),
        sample_instance("db-ams", provider="vultr", region="ams"),
        sample_instance(
            "cache-nrt", provider="vultr", region="nrt", state=InstanceState.MAINTENANCE
        ),
        sample_instance("old-box", provider="vultr", region="ams", state=InstanceState.STOPPED),
        sample_instance("batch", provider="gcp", region="us-central1", state=InstanceState.PENDING),
        sample_instance(
            MARKUP_INSTANCE, provider="azure", region="westeurope", tags={"team": "[b]ops[/b]"}
        ),
    )


def instance_snapshot(clock: ManualClock) -> Snapshot:
    """The targets of test_tui_app, two of them naming an instance, and seven instances."""
    base = fleet_snapshot(clock)
    on = {"api-gateway": "web-1", "billing": "i-web-2", "auth": "web-1"}
    results = tuple(replace(r, instance=on.get(r.target)) for r in base.results)
    return replace(base, results=results, instances=fleet_instances())


def make_app(clock: ManualClock) -> tuple[WatchApp, MockTransport]:
    transport = MockTransport(snapshot=instance_snapshot(clock), clock=clock)
    app = WatchApp(
        url="ws://mock/",
        transport=transport,
        clock=clock,
        rng=random.Random(3),
        frame_interval=3600,
    )
    return app, transport


def publish_load(transport: MockTransport, clock: ManualClock, steps: int = 12) -> None:
    """CPU and memory of the running instances, web-1's CPU climbing."""
    rng = random.Random(9)
    running = [i for i in fleet_instances() if i.state is InstanceState.RUNNING]
    for step in range(steps):
        clock.advance(10)
        for instance in running:
            cpu = 20 + 6 * step if instance.name == "web-1" else rng.uniform(2, 30)
            for metric, value in (("cpu_percent", cpu), ("mem_percent", rng.uniform(40, 70))):
                point = sample_metric(instance, metric, clock.now(), round(value, 1))
                transport.publish(EventKind.METRIC, to_dict(point))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# ---- the view-model


def test_metric_points_fill_a_bounded_ring_per_instance_and_metric(clock: ManualClock) -> None:
    fleet = FleetState(history=5)
    web = sample_instance("web-1")
    fleet.apply_snapshot(1, instances=[web])
    fleet.take_changes()
    for i in range(8):
        fleet.apply(sample_metric(web, "cpu_percent", clock.now() + timedelta(seconds=i), i))
    fleet.apply(sample_metric(web, "net_bytes", clock.now(), 1.0))
    assert fleet.instance_values(web, "cpu_percent") == [3, 4, 5, 6, 7]
    assert fleet.instance_values(web, "mem_percent") == []
    assert ("i-web-1", "net_bytes") in fleet.metrics  # the latest point only, no ring
    assert fleet.take_changes().instance_keys == {("aws", "i-web-1")}


def test_a_metric_naming_the_instance_by_name_finds_it(clock: ManualClock) -> None:
    fleet = FleetState()
    web = sample_instance("web-1")
    fleet.apply_snapshot(1, instances=[web])
    fleet.take_changes()
    fleet.apply(MetricPoint("web-1", "mem_percent", "percent", clock.now(), 55.0, "aws"))
    assert fleet.instance_values(web, "mem_percent") == [55.0]
    assert fleet.take_changes().instance_keys == {("aws", "i-web-1")}


def test_a_late_point_is_ignored_and_a_resync_keeps_the_rings(clock: ManualClock) -> None:
    fleet = FleetState()
    web = sample_instance("web-1")
    fleet.apply_snapshot(1, instances=[web])
    fleet.apply(sample_metric(web, "cpu_percent", clock.now(), 10))
    fleet.apply(sample_metric(web, "cpu_percent", clock.now() - timedelta(seconds=5), 99))
    fleet.apply_snapshot(2, instances=[web])
    assert fleet.instance_values(web, "cpu_percent") == [10]


def test_targets_and_instances_are_linked_by_the_name_or_id_the_target_gives(
    clock: ManualClock,
) -> None:
    fleet = FleetState()
    snap = instance_snapshot(clock)
    fleet.apply_snapshot(1, results=snap.results, instances=snap.instances)
    web1 = fleet.instances[("aws", "i-web-1")]
    assert [r.name for r in fleet.targets_on(web1)] == ["api-gateway", "auth"]
    instance = fleet.instance_of(fleet.rows["billing"])
    assert instance is not None and instance.name == "web-2"
    assert fleet.instance_of(fleet.rows["search"]) is None


# ---- the instances view


async def test_i_shows_the_instances_from_the_snapshot_worst_first_and_back(
    clock: ManualClock,
) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("i")
        table = app.main.instances
        assert table.display and not app.targets.display
        assert table.row_count == 7
        assert names(table)[:2] == ["vultr/i-old-box", "aws/i-web-2"]  # stopped first
        assert table.get_cell("aws/i-web-2", "state").plain == "✕ stopped"
        assert table.get_cell("vultr/i-cache-nrt", "state").plain == "▲ maintenance"
        assert table.get_cell("aws/i-web-1", "state").plain == "● running"
        assert table.get_cell("aws/i-web-1", "size").plain == "t3.medium"
        assert table.get_cell("aws/i-web-1", "cpu").plain == "—"
        assert plain(table.border_title).startswith("instances · 7 of 7")
        await pilot.press("i")
        assert app.targets.display and not table.display


async def test_an_instance_event_adds_or_updates_its_row_in_place(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("i")
        before = names(app.main.instances)
        stopped = sample_instance("web-1", state=InstanceState.STOPPED)
        transport.publish(EventKind.INSTANCE, to_dict(stopped))
        transport.publish(EventKind.INSTANCE, to_dict(sample_instance("new-vm", provider="gcp")))
        await settle(pilot, transport)
        table = app.main.instances
        assert names(table)[: len(before)] == before  # in place; re-sorted only lazily
        assert table.get_cell("aws/i-web-1", "state").plain == "✕ stopped"
        assert table.get_cell("gcp/i-new-vm", "state").plain == "● running"


async def test_metric_events_draw_the_latest_value_and_a_sparkline(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("i")
        frames = app.frames
        publish_load(transport, clock)
        await settle(pilot, transport)
        cpu = app.main.instances.get_cell("aws/i-web-1", "cpu").plain
        assert cpu.startswith(" 86%")  # 20 + 6 * 11
        spark = cpu.split()[-1]
        assert len(spark) >= 8 and list(spark) == sorted(spark)  # climbing
        assert app.frames == frames + 1  # a hundred and more events, one frame


async def test_metrics_while_the_targets_show_are_drawn_when_instances_are_shown(
    clock: ManualClock,
) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("i", "i")
        publish_load(transport, clock, steps=2)
        await settle(pilot, transport)
        await pilot.press("i")
        assert app.main.instances.get_cell("aws/i-web-1", "cpu").plain.startswith(" 26%")


async def test_filter_and_sort_on_instances(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        publish_load(transport, clock)
        await settle(pilot, transport)
        await pilot.press("i", "slash", *"state:stopped provider:vultr", "enter")
        table = app.main.instances
        assert names(table) == ["vultr/i-old-box"]
        assert "filter: state:stopped provider:vultr" in plain(table.border_title)
        await pilot.press("escape")
        assert table.row_count == 7
        await pilot.press("slash", *"state:down")  # a target word: flagged, not applied
        assert app.main.filter_box.has_class("-error")
        await pilot.press("escape")
        for _ in range(5):  # to the cpu column
            await pilot.press("right")
        await pilot.press("s")
        assert names(table)[0] == "aws/i-web-1"  # the busiest first
        await pilot.press("i")
        assert app.targets.row_filter.text == ""  # each view keeps its own filter


async def test_an_instance_named_with_markup_is_shown_literally(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("i")
        key = "azure/i-" + MARKUP_INSTANCE
        cell = app.main.instances.get_cell(key, "name")
        assert cell.plain == MARKUP_INSTANCE and cell.spans == []
        app.main.instances.move_cursor(row=app.main.instances.get_row_index(key))
        await pilot.press("enter")
        title = str(app.screen.query_one("#detail-title", Static).render())
        assert MARKUP_INSTANCE in title and "team=[b]ops[/b]" in title


async def test_enter_on_an_instance_charts_cpu_and_memory_and_lists_its_targets(
    clock: ManualClock,
) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        publish_load(transport, clock, steps=6)
        await settle(pilot, transport)
        await pilot.press("i")
        table = app.main.instances
        table.move_cursor(row=table.get_row_index("aws/i-web-1"))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, InstanceDetail)
        assert screen.query_one("#cpu-chart", Sparkline).data == [20, 26, 32, 38, 44, 50]
        assert len(screen.query_one("#mem-chart", Sparkline).data or []) == 6
        label = str(screen.query_one("#cpu-chart-label", Static).render())
        assert "6 points" in label and "last 50%" in label
        targets = screen.query_one("#instance-targets", DataTable)
        assert [targets.get_row_at(i)[1].plain for i in range(targets.row_count)] == [
            "api-gateway",
            "auth",
        ]
        assert not screen.query_one("#disk-chart-box").display  # no disk points: no chart
        publish_load(transport, clock, steps=1)
        web1 = app.fleet.instances[("aws", "i-web-1")]
        disk = sample_metric(web1, "disk_percent", clock.now(), 71.5)
        transport.publish(EventKind.METRIC, to_dict(disk))
        await settle(pilot, transport)  # the screen follows the live metrics
        assert len(screen.query_one("#cpu-chart", Sparkline).data or []) == 7
        assert screen.query_one("#disk-chart-box").display
        assert "last 72%" in str(screen.query_one("#disk-chart-label", Static).render())
        await pilot.press("escape")
        assert app.screen is app.main and app.main.showing_instances


async def test_the_target_detail_shows_its_instance_cpu_and_memory(clock: ManualClock) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        publish_load(transport, clock, steps=3)
        await settle(pilot, transport)
        app.targets.move_cursor(row=app.targets.get_row_index("api-gateway"))
        await pilot.press("enter")
        assert isinstance(app.screen, TargetDetail)
        line = str(app.screen.query_one("#target-instance", Static).render())
        assert "web-1" in line and "● running" in line and "cpu  32%" in line
        await pilot.press("escape")
        app.targets.move_cursor(row=app.targets.get_row_index("search"))
        await pilot.press("enter")
        assert not app.screen.query_one("#target-instance", Static).display


async def test_a_target_changed_while_the_instances_show_is_drawn_on_the_way_back(
    clock: ManualClock,
) -> None:
    app, transport = make_app(clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, transport)
        await pilot.press("i")
        clock.advance(1)
        changed = sample_result("search", clock.now(), provider="gcp", latency_ms=2222)
        transport.publish(EventKind.CHECK, to_dict(changed))
        await settle(pilot, transport)
        await pilot.press("i")
        await pilot.pause()
        assert app.targets.get_cell("search", "latency").plain == "2.22 s"
