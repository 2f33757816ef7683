"""The demo's clouds: four providers' instances reach the store, with metrics and incidents."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nephos.clock import ManualClock
from nephos.config.types import HotStoreConfig
from nephos.model import InstanceState
from nephos.sim.demo_clouds import WEB_INSTANCE, DemoClouds
from nephos.sim.fleet import run_demo
from nephos.store import open_hot_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_short_demo_stores_instances_of_all_four_providers_and_their_metrics(
    tmp_path: Path,
) -> None:
    store_path = str(tmp_path / "demo.db")
    before = os.environ.get("AWS_ACCESS_KEY_ID")
    await run_demo(store_path=store_path, duration=3.0, interval=timedelta(seconds=1))
    assert os.environ.get("AWS_ACCESS_KEY_ID") == before  # the demo's fake keys are gone
    store = open_hot_store(HotStoreConfig(path=store_path))
    await store.open()
    try:
        instances = await store.instances()
        points = await store.metrics(limit=100_000)
    finally:
        await store.close()
    assert {i.provider for i in instances} == {"aws", "vultr", "gcp", "azure"}
    assert all(i.state is InstanceState.RUNNING for i in instances)
    metrics = Counter((p.provider, p.metric) for p in points)
    for wanted in [
        ("aws", "cpu_percent"),
        ("aws", "mem_percent"),
        ("aws", "disk_percent"),
        ("gcp", "cpu_percent"),
        ("azure", "mem_percent"),
    ]:
        assert metrics[wanted] > 0, wanted


def test_the_script_stops_the_web_instance_and_starts_it_again() -> None:
    clock = ManualClock(T0)
    clouds = DemoClouds(seed=7, clock=clock, interval=timedelta(seconds=5), with_aws=False)
    web = next(i for i in clouds.fleet.of("vultr") if i.name == WEB_INSTANCE)
    states = []
    for _ in range(20):  # 100 s in steps of 5
        clouds.step()
        states.append((web.state, clouds.web_down_for()))
        clock.advance(5)
    assert states[0] == (InstanceState.RUNNING, None)
    assert states[4] == (InstanceState.STOPPED, 0.0)  # stopped 20 s in
    assert states[6] == (InstanceState.STOPPED, 10.0)
    assert states[16] == (InstanceState.RUNNING, None)  # running again 80 s in


def test_the_metrics_have_their_incidents_and_repeat_for_a_seed() -> None:
    clock = ManualClock(T0)
    clouds = DemoClouds(seed=7, clock=clock, interval=timedelta(seconds=5), with_aws=False)
    twin = DemoClouds(seed=7, clock=clock, interval=timedelta(seconds=5), with_aws=False)
    by_name = {i.name: i for p in ("gcp", "azure") for i in clouds.fleet.of(p)}
    search_cpu = [
        by_name["search-1"].metric("cpu_percent", T0 + timedelta(seconds=s)) for s in (10, 60)
    ]
    assert search_cpu[0] < 40 < 85 < search_cpu[1]  # the spike
    leak = [by_name["reports-1"].metric("mem_percent", T0 + timedelta(seconds=s)) for s in (0, 400)]
    assert leak[0] < 40 and leak[1] > 85  # the leak
    disk = [p.value for s in (0, 600) for p in clouds.agent_points(T0 + timedelta(seconds=s))]
    assert disk[0] < 65 and disk[1] > 85  # the disk filling up
    twin_by_name = {i.name: i for p in ("gcp", "azure") for i in twin.fleet.of(p)}
    at = T0 + timedelta(seconds=33)
    assert by_name["batch-1"].metric("cpu_percent", at) == twin_by_name["batch-1"].metric(
        "cpu_percent", at
    )


async def test_without_aws_the_demo_says_so_and_configures_the_other_three() -> None:
    clouds = DemoClouds(
        seed=7, clock=ManualClock(T0), interval=timedelta(seconds=5), with_aws=False
    )
    await clouds.start()
    try:
        assert clouds.aws is None and clouds.aws_note is not None
        options = clouds.provider_options()
        assert set(options) == {"vultr", "gcp", "azure"}
        assert all(o["interval"] == timedelta(seconds=5) for o in options.values())
    finally:
        await clouds.stop()
