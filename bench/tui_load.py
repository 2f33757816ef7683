"""Event-loop lag of ``nephos watch`` under load: 5,000 rows, 300 instances, 200 events/s.

A headless WatchApp (``App.run_test``) reads a MockTransport that holds a 5,000-target,
300-instance snapshot; a publisher then sends check results (and now and then an alert) and
CPU and memory metric points (``--metrics``: their share of the events) at a steady rate while
a heartbeat measures how late a 10 ms timer fires. ``--view instances`` measures with the
instances view on screen. Lateness is the lag an operator would feel as jank; the goal is p95
under 100 ms. Prints its figures; asserts nothing.

    .venv/bin/python bench/tui_load.py [--rows 5000] [--instances 300] [--rate 200]
        [--metrics 0.5] [--seconds 20] [--view targets|instances]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from dataclasses import replace

from nephos.clock import SystemClock
from nephos.model import AlertState, EventKind, Health, Instance, InstanceState, to_dict
from nephos.stream.mock import MockTransport
from nephos.tui.app import WatchApp
from nephos.tui.sample import sample_alert, sample_metric, sample_snapshot

_HEALTH = [Health.HEALTHY] * 17 + [Health.DEGRADED, Health.UNHEALTHY, Health.UNKNOWN]


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def _heartbeat(samples: list[float], stop: asyncio.Event, period: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(period)
        samples.append((loop.time() - start - period) * 1000)


async def _publish(
    transport: MockTransport,
    snapshot_results: list[object],
    instances: list[Instance],
    rate: float,
    metric_share: float,
    seconds: float,
    clock: SystemClock,
) -> int:
    """Publish ``rate`` events a second for ``seconds``, on an absolute schedule."""
    rng = random.Random(11)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    tick = 0.05  # send in small batches, as a hub's socket reads would deliver them
    while (elapsed := loop.time() - start) < seconds:
        due = int(elapsed * rate) - sent
        for _ in range(max(0, due)):
            if instances and rng.random() < metric_share:
                instance = rng.choice(instances)
                metric = rng.choice(("cpu_percent", "mem_percent"))
                point = sample_metric(instance, metric, clock.now(), round(rng.uniform(1, 99), 1))
                transport.publish(EventKind.METRIC, to_dict(point))
                sent += 1
                continue
            base = rng.choice(snapshot_results)
            if rng.random() < 0.01:
                alert = sample_alert(
                    f"al-bench-{sent}",
                    base.target,
                    clock.now(),
                    provider=base.provider,  # type: ignore[attr-defined]
                )
                transport.publish(EventKind.ALERT, to_dict(alert))
                transport.publish(
                    EventKind.ALERT,
                    to_dict(replace(alert, state=AlertState.RESOLVED, version=1)),
                )
                sent += 2
                continue
            result = replace(
                base,  # type: ignore[type-var]
                ts=clock.now(),
                health=rng.choice(_HEALTH),
                latency_ms=round(rng.uniform(15, 1500), 1),
            )
            transport.publish(EventKind.CHECK, to_dict(result))
            sent += 1
        await asyncio.sleep(tick)
    return sent


async def run(
    rows: int,
    rate: float,
    seconds: float,
    *,
    instances: int = 300,
    metric_share: float = 0.5,
    view: str = "targets",
) -> dict[str, float]:
    """Run the load and return its figures."""
    clock = SystemClock()
    snapshot = sample_snapshot(rows, clock.now(), instances=instances)
    running = [i for i in snapshot.instances if i.state is InstanceState.RUNNING]
    transport = MockTransport(snapshot=snapshot, clock=clock)
    app = WatchApp(url="ws://bench/", transport=transport, clock=clock)
    figures: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        began = time.perf_counter()
        while app.targets.row_count < rows:
            await pilot.pause(0.05)
        figures["first_draw_s"] = time.perf_counter() - began
        if view == "instances":
            await pilot.press("i")
        frames_before, applied_before = app.frames, app.fleet.applied

        samples: list[float] = []
        stop = asyncio.Event()
        beat = asyncio.create_task(_heartbeat(samples, stop))
        sent = await _publish(
            transport, list(snapshot.results), running, rate, metric_share, seconds, clock
        )
        # Let the app drain what is in flight, then stop measuring.
        drained = time.perf_counter()
        while app.fleet.seq < transport.latest_seq and time.perf_counter() - drained < 5:
            await asyncio.sleep(0.01)
        figures["drain_s"] = time.perf_counter() - drained
        stop.set()
        await beat

        figures.update(
            events=sent,
            ingested=app.fleet.applied - applied_before,
            frames=app.frames - frames_before,
            lag_p50_ms=statistics.median(samples),
            lag_p95_ms=_percentile(samples, 95),
            lag_p99_ms=_percentile(samples, 99),
            lag_max_ms=max(samples),
            heartbeats=len(samples),
        )
    return figures


def main() -> None:
    """Parse the arguments, run the load, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument(
        "--metrics", type=float, default=0.5, help="share of the events that are metric points"
    )
    parser.add_argument("--view", choices=("targets", "instances"), default="targets")
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            args.rows,
            args.rate,
            args.seconds,
            instances=args.instances,
            metric_share=args.metrics,
            view=args.view,
        )
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"load: {args.rows} rows, {args.instances} instances, {args.rate:.0f} events/s "
        f"({args.metrics:.0%} metric points) for {args.seconds:.0f} s, {args.view} on screen"
    )
    print(f"first draw of the snapshot: {figures['first_draw_s']:.2f} s")
    print(
        f"events: {figures['events']:.0f} published, {figures['ingested']:.0f} ingested, "
        f"{figures['frames']:.0f} frames drawn, drained {figures['drain_s'] * 1000:.0f} ms after"
    )
    print(
        f"event-loop lag (ms, {figures['heartbeats']:.0f} heartbeats): "
        f"p50 {figures['lag_p50_ms']:.1f}  p95 {figures['lag_p95_ms']:.1f}  "
        f"p99 {figures['lag_p99_ms']:.1f}  max {figures['lag_max_ms']:.1f}"
    )
    verdict = "met" if figures["lag_p95_ms"] < 100 else "MISSED"
    print(f"goal p95 < 100 ms: {verdict}")


if __name__ == "__main__":
    main()
