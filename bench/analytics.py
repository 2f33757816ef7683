"""Analytics over 10 million metric points in DuckDB: anomaly detection (and forecasting).

Builds (or reuses) a DuckDB warehouse holding one-minute points for 30 days of 231 series
(77 instances x cpu, memory, latency: 9,979,200 points) with daily cycles, noise and a few
injected incidents, then times:

* batch anomaly detection (``detect_batch``, i.e. ``snowflake/analytics/anomalies.sql``)
  for the last 24 hours against 7 days of history (what ``nephos anomalies`` runs), and over
  all 30 days with all 30 days as history (every one of the 10 million points judged);
* the online detector in Python, in points per second (what the sentinel pays per point);
* forecasting (``predict_batch``, i.e. ``snowflake/analytics/forecast_linear.sql`` over a
  3-day window, then a Python refit of each candidate), and the cost of one refit.

The goal (issue 5): anomalies and forecasting together under 5 s over the 10 million points.
With ``--quality`` it prints instead the detector's precision, recall and false alarms on the
labelled evaluation set (tests/data/anomaly), beside the literal 3-sigma rule's.

    .venv/bin/python bench/analytics.py [--path /tmp/nephos-bench.duckdb] [--rebuild]
    .venv/bin/python bench/analytics.py --quality
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 30
INSTANCES = 77
METRICS = (("cpu_utilization", "percent"), ("mem_used_percent", "percent"), ("latency", "ms"))
SERIES = INSTANCES * len(METRICS)
END = START + timedelta(days=DAYS)


async def build(path: Path) -> None:
    """Create the schema with the warehouse, then generate the points inside DuckDB."""
    import duckdb

    from nephos.warehouse.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(path)
    await warehouse.open()
    await warehouse.close()
    con = duckdb.connect(str(path))
    # One row per series and minute; values follow a daily cycle with noise, and one
    # 30-minute window in 20,000 holds an incident (a jump of 50 units).
    con.execute(
        f"""
        INSERT INTO metrics (seq, ts, instance, metric, unit, value, provider)
        SELECT NULL,
               TIMESTAMP '2026-01-01 00:00:00' + to_minutes(m),
               'vm-' || lpad(CAST(s // 3 AS VARCHAR), 3, '0'),
               CASE s % 3 WHEN 0 THEN 'cpu_utilization' WHEN 1 THEN 'mem_used_percent'
                          ELSE 'latency' END,
               CASE s % 3 WHEN 2 THEN 'ms' ELSE 'percent' END,
               round(
                 CASE s % 3
                   WHEN 0 THEN 20 + 15 * sin(2 * pi() * (m % 1440) / 1440.0) + 4 * random()
                   WHEN 1 THEN 40 + 2 * sin(2 * pi() * (m % 1440) / 1440.0) + random()
                   ELSE 120 + 30 * sin(2 * pi() * (m % 1440) / 1440.0) + 20 * random()
                 END
                 + CASE WHEN hash(s * 100000 + m // 30) % 20000 = 0 THEN 50 ELSE 0 END, 2),
               'aws'
        FROM range({SERIES}) AS t1(s), range({DAYS * 1440}) AS t2(m)
        """
    )
    con.close()


async def anomalies(path: Path) -> None:
    from nephos.analytics.anomaly_batch import detect_batch
    from nephos.warehouse.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(path)
    await warehouse.open()
    try:
        rows = await warehouse.execute("SELECT COUNT(*) FROM metrics")
        print(f"metric points: {rows[0][0]:,} in {SERIES} series")
        for label, since, history in (
            ("last 24 h vs 7 d history", END - timedelta(days=1), timedelta(days=7)),
            ("all 30 d (10 M points judged)", START, timedelta(days=DAYS)),
        ):
            best = float("inf")
            found = []
            for _ in range(3):
                t0 = time.perf_counter()
                found = await detect_batch(warehouse, since, until=END, history=history)
                best = min(best, time.perf_counter() - t0)
            print(f"anomalies, {label}: {best:.2f} s best of 3, {len(found)} episodes")
    finally:
        await warehouse.close()


def online_throughput() -> None:
    import math
    import random

    from nephos.analytics.anomaly import SeriesKey
    from nephos.analytics.anomaly_detector import OnlineDetector

    rng = random.Random(1)
    detector = OnlineDetector(SeriesKey("vm-1", "cpu_utilization", "percent"))
    n = 14 * 1440
    points = [
        (START + timedelta(minutes=i), 20 + 15 * math.sin(2 * math.pi * i / 1440) + rng.random())
        for i in range(n)
    ]
    t0 = time.perf_counter()
    for ts, value in points:
        detector.step(ts, value)
    elapsed = time.perf_counter() - t0
    print(f"online detector: {n / elapsed:,.0f} points/s ({elapsed / n * 1e6:.1f} µs a point)")


def quality() -> None:
    from nephos.analytics.anomaly_eval import (
        evaluate,
        load_labelled_dir,
        online_detector_alerts,
        three_sigma_alerts,
        three_sigma_onset_alerts,
    )

    data = Path(__file__).resolve().parents[1] / "tests" / "data" / "anomaly"
    dataset = load_labelled_dir(data)
    detectors = (
        ("nephos online detector", online_detector_alerts()),
        ("3-sigma, 24 h (literal: every point)", three_sigma_alerts),
        ("3-sigma, 24 h, one alert per run", three_sigma_onset_alerts),
    )
    weeks = sum(s.weeks for s in dataset)
    print(f"{len(dataset)} series, {weeks:.0f} series-weeks, five-minute points\n")
    print("| detector | alerts | precision | recall | false alarms / series-week |")
    print("|---|---:|---:|---:|---:|")
    for name, fn in detectors:
        r = evaluate(name, fn, dataset)
        recall = f"{r.recall:.2f} ({r.detected}/{r.incidents})"
        print(
            f"| {name} | {r.alerts} | {r.precision:.2f} | {recall}"
            f" | {r.false_alarms_per_series_week:.2f} |"
        )
    print("\nPer series: incidents detected, false alarms")
    print("\n| series | incidents | nephos | 3-sigma | 3-sigma, one per run |")
    print("|---|---:|---:|---:|---:|")
    for labelled in dataset:
        cells = []
        for name, fn in detectors:
            r = evaluate(name, fn, [labelled])
            cells.append(f"{r.detected}, {r.false_alarms}")
        print(
            f"| {labelled.series.label} | {len(labelled.incidents())} | " + " | ".join(cells) + " |"
        )
    asyncio.run(batch_quality(dataset))


async def batch_quality(dataset: list[Any]) -> None:
    """The batch SQL run every hour on days 8 to 21, each hour against the 7 days before."""
    from nephos.analytics.anomaly_batch import detect_batch
    from nephos.analytics.anomaly_eval import LabelledSeries, evaluate, online_detector_alerts
    from nephos.model import MetricPoint
    from nephos.warehouse.duckdb import DuckDBWarehouse

    first = dataset[0].times[0]
    cut = first + timedelta(days=7)
    warehouse = DuckDBWarehouse(":memory:")
    await warehouse.open()
    try:
        await warehouse.load_metrics(
            [
                MetricPoint(s.series.instance, s.series.metric, s.series.unit, t, v)
                for s in dataset
                for t, v in zip(s.times, s.values, strict=True)
            ]
        )
        batch_onsets: dict[str, list[datetime]] = {}
        hour = cut
        last_flagged: dict[str, datetime] = {}
        while hour < dataset[0].times[-1]:
            end = hour + timedelta(hours=1) - timedelta(seconds=1)
            for a in await detect_batch(warehouse, hour, until=end, history=timedelta(days=7)):
                label = a.series.label
                before = last_flagged.get(label)
                # An episode that runs on from the previous hour is the same episode.
                if before is None or a.started_at - before > timedelta(minutes=15):
                    batch_onsets.setdefault(label, []).append(a.started_at)
                last_flagged[label] = a.last_flagged_at
            hour += timedelta(hours=1)
    finally:
        await warehouse.close()

    def tail(s: LabelledSeries) -> LabelledSeries:
        keep = [i for i, t in enumerate(s.times) if t >= cut]
        pick = [s.times[i] for i in keep], [s.values[i] for i in keep], [s.labels[i] for i in keep]
        return LabelledSeries(s.series, tuple(pick[0]), tuple(pick[1]), tuple(pick[2]))

    full = {s.series.label: s for s in dataset}
    online = online_detector_alerts()
    judged = [tail(s) for s in dataset]
    rows = (
        ("nephos online detector", lambda s: [t for t in online(full[s.series.label]) if t >= cut]),
        ("batch SQL, every hour, 7 d history", lambda s: batch_onsets.get(s.series.label, [])),
    )
    weeks = sum(s.weeks for s in judged)
    print(f"\nDays 8 to 21 only ({weeks:.0f} series-weeks), the batch SQL run every hour:\n")
    print("| detector | alerts | precision | recall | false alarms / series-week |")
    print("|---|---:|---:|---:|---:|")
    for name, fn in rows:
        r = evaluate(name, fn, judged)
        recall = f"{r.recall:.2f} ({r.detected}/{r.incidents})"
        print(
            f"| {name} | {r.alerts} | {r.precision:.2f} | {recall}"
            f" | {r.false_alarms_per_series_week:.2f} |"
        )


# ---------------------------------------------------------------- forecasting (FORECAST)
async def forecasting(path: Path) -> None:
    """Time predict_batch over the same warehouse, and the refit of one candidate series.

    The series here have daily cycles but no trend, so the SQL's linear fits find no
    candidate and the figure is the warehouse pass alone; the refit of a candidate (its
    points fetched and fitted in Python) is timed on its own, as if every memory series were
    one, so a fleet with N candidates costs the pass plus N refits.
    """
    import numpy as np

    from nephos.analytics.forecast import ForecastSettings, Thresholds, forecast_arrays
    from nephos.analytics.forecast_batch import predict_batch
    from nephos.warehouse.duckdb import DuckDBWarehouse

    thresholds = Thresholds(
        by_metric={"cpu_utilization": 90.0, "mem_used_percent": 90.0, "latency": 3000.0}
    )
    warehouse = DuckDBWarehouse(path)
    await warehouse.open()
    try:
        best, made = float("inf"), []
        for _ in range(3):
            t0 = time.perf_counter()
            made = await predict_batch(warehouse, now=END, thresholds=thresholds)
            best = min(best, time.perf_counter() - t0)
        print(
            f"forecasts, 3-day window, {SERIES} series: {best:.2f} s best of 3, "
            f"{len(made)} forecasts"
        )
        bounds = {"since": END - timedelta(days=3), "until": END}
        settings = ForecastSettings()
        t0 = time.perf_counter()
        for i in range(INSTANCES):
            series = {"resource": f"vm-{i:03d}", "metric": "mem_used_percent"}
            rows = await warehouse.query("forecast_points", {**bounds, **series})
            hours = np.array([r["ts"].timestamp() / 3600.0 for r in rows])
            values = np.array([float(r["value"]) for r in rows])
            forecast_arrays(
                hours, values, now=END.timestamp() / 3600.0, threshold=42.0, settings=settings
            )
        each = (time.perf_counter() - t0) / INSTANCES
        print(
            f"forecast refit of one candidate (4,320 points fetched, fitted): {each * 1000:.0f} ms"
        )
    finally:
        await warehouse.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=Path("/tmp/nephos-bench-analytics.duckdb"))
    parser.add_argument("--rebuild", action="store_true", help="Regenerate the points.")
    parser.add_argument("--quality", action="store_true", help="Evaluate on the labelled set.")
    args = parser.parse_args()
    if args.quality:
        quality()
        return
    if args.rebuild and args.path.exists():
        os.remove(args.path)
    if not args.path.exists():
        t0 = time.perf_counter()
        asyncio.run(build(args.path))
        print(f"generated the warehouse in {time.perf_counter() - t0:.1f} s: {args.path}")
    asyncio.run(anomalies(args.path))
    online_throughput()
    asyncio.run(forecasting(args.path))


if __name__ == "__main__":
    main()
