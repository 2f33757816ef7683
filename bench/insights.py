"""``nephos summary`` and ``nephos report`` on 30 days of data for 500 targets (template narrator).

Builds (or reuses) a directory holding:

* a DuckDB warehouse with a check of each of 500 targets every 2 minutes for 30 days
  (10,800,000 results; latencies with a daily cycle and noise, an outage on every fiftieth
  target, a slow drift on every twentieth) and 5-minute CPU, memory and disk points for 100
  instances (2,592,000 metric points, disks filling on a few);
* a SQLite hot store with each target's newest result, the 100 instances, and 40 alerts of
  every source (sentinel, anomaly, forecast);

then runs each command as a user would (a fresh ``nephos`` process, 5 runs: median and worst wall
time, median CPU time; once more with an empty SQL cache, as the first run after installing)
and, in-process, the facts and rendering alone. The goal (issue 6): under 2 s each.

    .venv/bin/python bench/insights.py [--dir /tmp/nephos-bench-insights] [--rebuild] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAYS = 30
TARGETS = 500
INSTANCES = 100
STEP_SECONDS = 120


def build_warehouse(path: Path, end: datetime) -> None:
    """Create the schema with the warehouse, then generate the rows inside DuckDB."""
    import duckdb

    from nephos.warehouse.duckdb import DuckDBWarehouse

    async def schema() -> None:
        warehouse = DuckDBWarehouse(path)
        await warehouse.open()
        await warehouse.close()

    asyncio.run(schema())
    con = duckdb.connect(str(path))
    start = (end - timedelta(days=DAYS)).strftime("%Y-%m-%d %H:%M:%S")
    checks = DAYS * 86400 // STEP_SECONDS
    con.execute(
        f"""
        INSERT INTO results (seq, ts, target, kind, provider, region, health, latency_ms,
                             success, status_code, error, reason, flapping, sentinel_offline)
        SELECT i * {TARGETS} + t + 1,
               TIMESTAMP '{start}' + to_seconds(i * {STEP_SECONDS}),
               'svc-' || lpad(CAST(t AS VARCHAR), 3, '0'),
               'http',
               CASE t % 4 WHEN 0 THEN 'aws' WHEN 1 THEN 'gcp' WHEN 2 THEN 'azure' ELSE 'vultr' END,
               NULL,
               CASE WHEN down THEN 'unhealthy' WHEN latency > 1000 THEN 'degraded'
                    ELSE 'healthy' END,
               latency,
               NOT down,
               CASE WHEN down THEN 503 ELSE 200 END,
               NULL,
               CASE WHEN down THEN '[STATUS] was 503, expected == 200' ELSE '' END,
               FALSE,
               FALSE
        FROM (
            SELECT i, t,
                   (t % 50 = 0 AND i % 720 BETWEEN 300 AND 315) AS down,
                   80 + (t % 37) * 6
                      + 40 * sin(2 * pi() * (i % 720) / 720.0)
                      + (hash(i * 7919 + t) % 1000) / 20.0
                      + CASE WHEN t % 20 = 0 THEN i / 40.0 ELSE 0 END AS latency
            FROM range(0, {checks}) AS a(i), range(0, {TARGETS}) AS b(t)
        )
        """
    )
    points = DAYS * 86400 // 300
    con.execute(
        f"""
        INSERT INTO metrics (seq, ts, instance, metric, unit, value, provider)
        SELECT NULL,
               TIMESTAMP '{start}' + to_seconds(p * 300),
               'vm-' || lpad(CAST(v AS VARCHAR), 3, '0'),
               m.name, 'percent',
               LEAST(100, GREATEST(0, CASE m.name
                   WHEN 'cpu_percent' THEN 30 + 20 * sin(2 * pi() * (p % 288) / 288.0)
                                           + (hash(p * 31 + v) % 100) / 10.0
                   WHEN 'mem_percent' THEN 50 + (v % 7) * 3 + (hash(p * 17 + v) % 100) / 50.0
                   ELSE 40 + (v % 9) * 2 + CASE WHEN v % 25 = 0 THEN p / 180.0 ELSE 0 END
                            + (hash(p * 13 + v) % 100) / 100.0
               END)),
               'aws'
        FROM range(0, {points}) AS a(p), range(0, {INSTANCES}) AS b(v),
             (VALUES ('cpu_percent'), ('mem_percent'), ('disk_percent')) AS m(name)
        """
    )
    con.close()


def build_store(path: Path, end: datetime) -> None:
    """Each target's newest result, the instances and 40 alerts, in a SQLite hot store."""
    from nephos.model import (
        Alert,
        AlertSource,
        AlertState,
        CheckKind,
        CheckResult,
        Health,
        Instance,
        InstanceState,
        Severity,
    )  # fmt: skip
    from nephos.store.sqlite import SqliteHotStore

    rng = random.Random(6)
    providers = ("aws", "gcp", "azure", "vultr")

    async def fill() -> None:
        store = SqliteHotStore(str(path))
        await store.open()
        await store.put_results(
            [
                CheckResult(
                    target=f"svc-{t:03d}", kind=CheckKind.HTTP, ts=end - timedelta(seconds=30),
                    health=Health.UNHEALTHY if t % 50 == 0 else Health.HEALTHY,
                    latency_ms=rng.uniform(60, 400), success=t % 50 != 0,
                    provider=providers[t % 4], status_code=503 if t % 50 == 0 else 200,
                )
                for t in range(TARGETS)
            ]
        )  # fmt: skip
        await store.put_instances(
            [
                Instance("aws", f"i-{v:08x}", f"vm-{v:03d}",
                         InstanceState.STOPPED if v % 33 == 0 else InstanceState.RUNNING)
                for v in range(INSTANCES)
            ]
        )  # fmt: skip
        for n in range(40):
            source = (AlertSource.SENTINEL, AlertSource.ANOMALY, AlertSource.FORECAST)[n % 3]
            facts: dict[str, object] = {}
            if source is AlertSource.FORECAST:
                facts = {
                    "metric": "disk_percent", "resource": f"vm-{n:03d}", "unit": "percent",
                    "threshold": 90.0, "current": 80.0 + n / 10, "hours_to_threshold": 10.0 + n,
                    "interval_hours": [8.0 + n, 12.0 + n], "method": "linear", "r2": 0.95,
                    "slope_per_hour": 0.5, "points": 800,
                }  # fmt: skip
            if source is AlertSource.ANOMALY:
                facts = {
                    "kind": "spike", "metric": "cpu_percent", "unit": "percent",
                    "observed": 95.0, "baseline": {"median": 30.0, "spread": 4.0},
                    "deviation": 16.2, "confidence": 0.9,
                }  # fmt: skip
            await store.put_alert(
                Alert(
                    id=f"al-{n:06d}", dedup_key=f"k{n}",
                    target=f"svc-{n * 50 % TARGETS:03d}" if source is AlertSource.SENTINEL
                    else f"vm-{n:03d}",
                    source=source,
                    state=AlertState.FIRING if n % 4 else AlertState.RESOLVED,
                    severity=Severity.CRITICAL if n % 5 == 0 else Severity.WARNING,
                    title=f"alert {n}", message=f"alert {n} message",
                    started_at=end - timedelta(hours=n), updated_at=end - timedelta(hours=n),
                    resolved_at=None if n % 4 else end - timedelta(minutes=n),
                    provider=providers[n % 4], facts=facts,
                )
            )  # fmt: skip
        await store.close()

    asyncio.run(fill())


def timed_process(
    argv: list[str], runs: int, env: dict[str, str] | None = None
) -> tuple[float, float, float]:
    """Median and worst wall time, and median CPU time (user + system), of ``nephos ARGV`` in a
    fresh process. CPU time moves much less than wall time on a shared, loaded machine."""
    nephos = str(Path(sys.executable).with_name("nephos"))
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([nephos, *argv], capture_output=True, text=True, check=False, env=env)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1, 2):
            raise SystemExit(f"nephos {' '.join(argv)} failed: {done.stderr.strip()}")
    return statistics.median(walls), max(walls), statistics.median(cpus)


def machine() -> str:
    """CPUs, CPU model, memory and load, for the record."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text(encoding="utf-8").split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GB RAM"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({model}){memory}, load average {load}"


def timed_inprocess(config: Path, runs: int, end: datetime) -> dict[str, float]:
    """Median seconds of the facts and the rendering alone, inside one process."""
    from nephos.clock import SystemClock
    from nephos.config import load_config
    from nephos.insights.gather import open_sources, report_facts, summary_facts
    from nephos.insights.narrators.template import TemplateNarrator
    from nephos.insights.report import render_report

    cfg = load_config(str(config), env={})

    async def once() -> dict[str, float]:
        out = {}
        async with open_sources(cfg, clock=SystemClock()) as src:
            started = time.perf_counter()
            facts = await summary_facts(src, now=end)
            await TemplateNarrator().summarize(facts)
            out["summary facts + narration"] = time.perf_counter() - started
            started = time.perf_counter()
            report = await report_facts(src, since=end - timedelta(hours=24), until=end)
            narration = await TemplateNarrator().summarize(report.summary)
            for fmt in ("md", "html", "json"):
                render_report(report, narration, fmt)
            out["report facts + 3 formats"] = time.perf_counter() - started
        return out

    samples = [asyncio.run(once()) for _ in range(runs)]
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/tmp/nephos-bench-insights")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = Path(args.dir)
    if args.rebuild and base.exists():
        shutil.rmtree(base)
    warehouse, store, stamp = base / "warehouse.duckdb", base / "hot.db", base / "end.txt"
    if not warehouse.exists():
        base.mkdir(parents=True, exist_ok=True)
        # The data ends at the hour of building, so that `summary` (which reads up to now)
        # finds its last 24 hours in the warehouse.
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        started = time.perf_counter()
        build_warehouse(warehouse, end)
        build_store(store, end)
        stamp.write_text(end.isoformat(), encoding="utf-8")
        print(f"built in {time.perf_counter() - started:.1f} s: {base}")
    end = datetime.fromisoformat(stamp.read_text(encoding="utf-8").strip())
    until = end.isoformat().replace("+00:00", "Z")
    config = base / "nephos.yaml"
    config.write_text(
        "storage:\n"
        f"  hot: {{backend: sqlite, path: '{store}'}}\n"
        f"  warehouse: {{backend: duckdb, path: '{warehouse}'}}\n",
        encoding="utf-8",
    )
    print(f"{TARGETS} targets, {DAYS} days, check every {STEP_SECONDS} s: "
          f"{TARGETS * DAYS * 86400 // STEP_SECONDS:,} results; "
          f"{INSTANCES * 3 * DAYS * 288:,} metric points; cpus: {os.cpu_count()}")  # fmt: skip
    commands = {
        "nephos summary": ["summary", "-c", str(config)],
        "nephos summary --quick": ["summary", "--quick", "-c", str(config)],
        "nephos report --format md": ["report", "--until", until, "-c", str(config)],
        "nephos report --format html": ["report", "--format", "html", "--until", until, "-c",
                                        str(config)],
        "nephos report --format json": ["report", "--format", "json", "--until", until, "-c",
                                        str(config)],
    }  # fmt: skip
    print(f"machine: {machine()}")
    print(f"{'command (fresh process)':40} {'median':>8} {'worst':>8} {'cpu':>8}")
    for label, argv in commands.items():
        median, worst, cpu = timed_process(argv, args.runs)
        print(f"{label:40} {median:7.2f}s {worst:7.2f}s {cpu:7.2f}s")
    # The first run after installing (or upgrading sqlglot) transpiles the SQL and fills the
    # on-disk cache (nephos.warehouse.sql_cache); each run here gets an empty one.
    with tempfile.TemporaryDirectory() as empty:
        cold = []
        for n in range(args.runs):
            env = {**os.environ, "NEPHOS_SQL_CACHE": f"{empty}/{n}"}
            cold.append(timed_process(commands["nephos summary"], 1, env))
        print(
            f"{'nephos summary (empty SQL cache)':40} "
            f"{statistics.median(c[0] for c in cold):7.2f}s {max(c[1] for c in cold):7.2f}s "
            f"{statistics.median(c[2] for c in cold):7.2f}s"
        )
    median, worst, cpu = timed_process(["--help"], args.runs)
    print(f"{'nephos --help (start-up)':40} {median:7.2f}s {worst:7.2f}s {cpu:7.2f}s")
    print(f"{'in-process':40} {'median':>8}")
    for label, seconds in timed_inprocess(config, args.runs, end).items():
        print(f"{label:40} {seconds:7.2f}s")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
