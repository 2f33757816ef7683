"""The sentinel schedule on a ManualClock: spread, intervals, timeouts, bounds, reloads."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from nephos.clock import ManualClock
from nephos.model import CheckKind, Target
from nephos.sentinel.scheduler import Scheduler


def _target(name: str, interval: float = 60, **kw: object) -> Target:
    return Target(
        name=name,
        kind=CheckKind.TCP,
        address="127.0.0.1:1",
        interval=timedelta(seconds=interval),
        timeout=timedelta(seconds=kw.pop("timeout", 5)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


async def _settle() -> None:
    """Let every ready task run (no time passes on the manual clock)."""
    for _ in range(30):
        await asyncio.sleep(0)


class Recorder:
    """A check function that records start times and can be told to fail or hang."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.starts: dict[str, list[float]] = defaultdict(list)
        self.failing: set[str] = set()
        self.hanging: set[str] = set()
        self.running = 0
        self.max_running = 0
        self.release = asyncio.Event()

    async def __call__(self, target: Target) -> bool:
        self.starts[target.name].append(self.clock.monotonic())
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            if target.name in self.hanging:
                await self.release.wait()
            return target.name in self.failing
        finally:
            self.running -= 1


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def recorder(clock: ManualClock) -> Recorder:
    return Recorder(clock)


async def _advance(clock: ManualClock, seconds: float, step: float = 0.5) -> None:
    await _settle()
    steps = round(seconds / step)
    for _ in range(steps):
        clock.advance(step)
        await _settle()


@pytest.fixture
async def running(clock: ManualClock, recorder: Recorder) -> AsyncIterator[Scheduler]:
    timeouts: list[tuple[str, float]] = []

    async def on_timeout(target: Target, elapsed: float) -> None:
        timeouts.append((target.name, elapsed))

    scheduler = Scheduler(
        recorder,
        clock=clock,
        concurrency=3,
        failing_interval=timedelta(seconds=3),
        on_timeout=on_timeout,
    )
    scheduler.timeouts = timeouts  # type: ignore[attr-defined]
    task = asyncio.create_task(scheduler.run())
    yield scheduler
    recorder.release.set()
    scheduler.stop()
    await asyncio.wait_for(task, 5)


async def test_first_runs_are_spread_evenly_over_the_interval(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    running.set_targets([_target(f"t{i}", interval=60) for i in range(4)])
    await _advance(clock, 59)
    firsts = sorted(starts[0] for starts in recorder.starts.values())
    assert firsts == [0.0, 15.0, 30.0, 45.0]


async def test_each_target_runs_on_its_own_interval(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    running.set_targets([_target("fast", interval=10), _target("slow", interval=25)])
    await _advance(clock, 60)
    assert recorder.starts["fast"] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert recorder.starts["slow"] == [12.5, 37.5]


async def test_a_failing_target_is_rechecked_at_the_failing_interval_until_it_recovers(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    recorder.failing.add("api")
    running.set_targets([_target("api", interval=10)])
    await _advance(clock, 6)
    assert recorder.starts["api"] == [0.0, 3.0, 6.0]
    recorder.failing.clear()
    await _advance(clock, 20)
    assert recorder.starts["api"] == [0.0, 3.0, 6.0, 9.0, 19.0]


async def test_a_targets_own_failing_interval_wins_over_the_default(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    recorder.failing.add("api")
    running.set_targets([_target("api", interval=10, failing_interval=timedelta(seconds=1))])
    await _advance(clock, 3)
    assert recorder.starts["api"] == [0.0, 1.0, 2.0, 3.0]


async def test_a_hanging_check_neither_delays_others_nor_outlives_its_deadline(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    recorder.hanging.add("stuck")
    running.set_targets([_target("stuck", interval=30, timeout=5), _target("ok", interval=4)])
    await _advance(clock, 20)
    assert recorder.starts["ok"] == [2.0, 6.0, 10.0, 14.0, 18.0]
    # Cancelled at timeout (5 s) + grace (1 s) each time, then re-checked straight away
    # because the failing interval (3 s) has already passed.
    assert running.timeouts == [("stuck", 6.0)] * 3  # type: ignore[attr-defined]
    assert recorder.starts["stuck"] == [0.0, 6.0, 12.0, 18.0]
    assert max(running.jitter) == 0.0


async def test_no_more_checks_run_at_once_than_the_concurrency_bound(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    recorder.hanging.update(f"t{i}" for i in range(6))
    running.set_targets([_target(f"t{i}", interval=6, timeout=30) for i in range(6)])
    await _advance(clock, 5)
    assert recorder.max_running == 3
    assert running.in_flight == 6
    recorder.release.set()
    await _advance(clock, 0.5)
    assert recorder.max_running == 3
    assert len(recorder.starts) == 6
    # The three that waited for a slot started late, and the jitter says by how much.
    assert running.jitter_percentile(100) == 2.0


async def test_a_reload_adds_drops_and_reschedules_only_what_changed(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    keep, drop, change = _target("keep", 12), _target("drop", 12), _target("change", 12)
    running.set_targets([keep, drop, change])
    await _advance(clock, 10)
    assert recorder.starts == {"keep": [0.0], "drop": [4.0], "change": [8.0]}
    faster = dataclasses.replace(change, interval=timedelta(seconds=2))
    running.set_targets([keep, faster, _target("new", 12)])
    await _advance(clock, 20)
    assert recorder.starts["keep"] == [0.0, 12.0, 24.0]
    assert recorder.starts["drop"] == [4.0]
    assert len([t for t in recorder.starts["change"] if t >= 10]) >= 9
    assert 1 <= len(recorder.starts["new"]) <= 2
    assert {t.name for t in running.targets} == {"keep", "change", "new"}


async def test_a_disabled_target_is_not_scheduled(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    running.set_targets([_target("on", 10), _target("off", 10, enabled=False)])
    await _advance(clock, 20)
    assert "off" not in recorder.starts
    assert [t.name for t in running.targets] == ["on"]


async def test_stop_waits_for_checks_in_flight_and_starts_no_new_ones(
    clock: ManualClock, recorder: Recorder
) -> None:
    recorder.hanging.add("slow")
    scheduler = Scheduler(recorder, clock=clock)
    scheduler.set_targets([_target("slow", 10, timeout=5), _target("other", 10)])
    task = asyncio.create_task(scheduler.run())
    await _advance(clock, 1)
    scheduler.stop()
    await _advance(clock, 2)
    assert not task.done()
    assert "other" not in recorder.starts
    recorder.release.set()
    await asyncio.wait_for(task, 5)
    assert recorder.starts == {"slow": [0.0]}


async def test_a_second_stop_cancels_the_checks_in_flight(
    clock: ManualClock, recorder: Recorder
) -> None:
    recorder.hanging.add("slow")
    scheduler = Scheduler(recorder, clock=clock)
    scheduler.set_targets([_target("slow", 10, timeout=60)])
    task = asyncio.create_task(scheduler.run())
    await _advance(clock, 1)
    scheduler.stop()
    await _settle()
    assert not task.done()
    scheduler.stop()
    await asyncio.wait_for(task, 5)
    assert scheduler.in_flight == 0


async def test_a_lower_concurrency_applies_to_checks_launched_after_it(
    clock: ManualClock, recorder: Recorder, running: Scheduler
) -> None:
    running.configure(concurrency=1, failing_interval=None)
    recorder.hanging.update({"a", "b"})
    running.set_targets([_target("a", 10, timeout=30), _target("b", 10, timeout=30)])
    await _advance(clock, 6)
    assert recorder.max_running == 1
    assert running.in_flight == 2
