"""Generate the labelled anomaly evaluation set: realistic five-minute cloud metrics, 3 weeks.

Run from the repository root: ``python tests/data/anomaly/generate.py``. The seed is fixed, so
the committed CSVs are reproducible. Each CSV has ``timestamp,value,incident``: ``incident``
is 0 for normal rows and a positive number for rows inside a labelled incident window. A gap
(missing rows) is labelled on the first row after it, whose timestamp closes the window.
The file name is ``<instance>__<metric>__<unit>.csv``.
"""

from __future__ import annotations

import math
import pathlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

START = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(minutes=5)
DAYS = 21
N = DAYS * 24 * 12
OUT = pathlib.Path(__file__).parent

Row = tuple[int, float, int]  # index, value, incident


def _hour(i: int) -> float:
    return (i % (24 * 12)) / 12.0


def _daily(i: int, peak: float = 14.0, width: float = 4.0) -> float:
    """A smooth daily traffic shape in [0, 1], highest at ``peak`` o'clock."""
    d = min(abs(_hour(i) - peak), 24 - abs(_hour(i) - peak))
    return math.exp(-((d / width) ** 2))


def _at(day: float) -> int:
    return int(day * 24 * 12)


def idle_cpu(rng: random.Random) -> list[Row]:
    """Idle VM: CPU in whole percents, mostly 0-2, one real spike to ~85 % for 20 minutes."""
    rows = []
    inc = range(_at(12.4), _at(12.4) + 4)
    for i in range(N):
        v = float(min(rng.choice([0, 0, 0, 1, 1, 1, 1, 2, 2, 3]), 100))
        if rng.random() < 0.004:
            v += rng.choice([3, 4, 5])  # the odd cron job: normal here
        label = 1 if i in inc else 0
        if label:
            v = float(round(80 + rng.uniform(-5, 10)))
        rows.append((i, v, label))
    return rows


def idle_cpu_half(rng: random.Random) -> list[Row]:
    """Idle VM reporting in 0.5 % steps; no incidents at all (a false-alarm trap)."""
    return [(i, round(max(0.0, rng.gauss(0.8, 0.5)) * 2) / 2, 0) for i in range(N)]


def traffic(rng: random.Random) -> list[Row]:
    """Network in (MB/s): a daily cycle with a sharp morning surge, an outage and a flood."""
    rows = []
    outage = range(_at(9.55), _at(9.55) + 8)
    flood = range(_at(16.30), _at(16.30) + 5)
    for i in range(N):
        surge = 35 * math.exp(-(((_hour(i) - 9.0) / 0.35) ** 2))  # 09:00 login storm
        v = 20 + 60 * _daily(i) + surge + rng.gauss(0, 2.5)
        label = 0
        if i in outage:
            v, label = max(0.0, rng.gauss(1.5, 0.5)), 1
        elif i in flood:
            v, label = v * 3.2, 2
        rows.append((i, round(v, 2), label))
    return rows


def cpu_batch(rng: random.Random) -> list[Row]:
    """App server CPU following traffic, a nightly batch job at 02:00 (normal), a runaway."""
    rows = []
    runaway = range(_at(14.45), _at(14.45) + 24)
    for i in range(N):
        batch = 55 if 2.0 <= _hour(i) < 2.5 else 0
        v = 12 + 25 * _daily(i) + batch + rng.gauss(0, 1.8)
        label = 0
        if i in runaway:
            v, label = 96 + rng.gauss(0, 1.5), 1
        rows.append((i, round(min(100.0, max(0.0, v)), 1), label))
    return rows


def memory_leak(rng: random.Random) -> list[Row]:
    """Memory: stable around 41 %, a leak from day 11 climbing 1.2 %/h until a restart."""
    rows = []
    leak0, leak1 = _at(11.2), _at(11.2) + 12 * 36
    for i in range(N):
        v = 41 + 1.5 * _daily(i) + rng.gauss(0, 0.35)
        label = 0
        if leak0 <= i < leak1:
            v += 1.2 * (i - leak0) / 12.0
            label = 1
        rows.append((i, round(min(v, 99.0), 2), label))
    return rows


def disk_fill(rng: random.Random) -> list[Row]:
    """Disk: slow normal growth with nightly log rotation; a runaway log fills it at 2.5 %/h."""
    rows = []
    level = 52.0
    fill0, fill1 = _at(15.6), _at(15.6) + 12 * 10
    for i in range(N):
        level += 0.004 + rng.gauss(0, 0.002)
        if i % (24 * 12) == 3 * 12:
            level -= 1.0  # logrotate at 03:00
        label = 0
        if fill0 <= i < fill1:
            level += 2.5 / 12.0
            label = 1
        elif i == fill1:
            level -= 25.0  # the operator cleaned up
        rows.append((i, round(level, 2), label))
    return rows


def level_shift(rng: random.Random) -> list[Row]:
    """Memory after a deploy: steps from 30 % to 46 % and stays; the onset is the incident."""
    rows = []
    shift = _at(10.3)
    for i in range(N):
        v = (46.0 if i >= shift else 30.0) + rng.gauss(0, 0.5)
        label = 1 if shift <= i < shift + 24 else 0
        rows.append((i, round(v, 2), label))
    return rows


def latency(rng: random.Random) -> list[Row]:
    """Response time (ms): lognormal noise with a daily rise, lone slow requests, a degradation."""
    rows = []
    bad = range(_at(13.58), _at(13.58) + 9)
    for i in range(N):
        v = (110 + 50 * _daily(i)) * math.exp(rng.gauss(0, 0.12))
        if rng.random() < 0.003:
            v *= rng.uniform(3, 6)  # a lone slow request: normal for latency
        label = 0
        if i in bad:
            v, label = v * 3.5, 1
        rows.append((i, round(v, 1), label))
    return rows


def disk_io(rng: random.Random) -> list[Row]:
    """Disk writes (MB/s): heavy-tailed noise and three real bursts."""
    rows = []
    bursts = {_at(6.3): 1, _at(11.9): 2, _at(18.2): 3}
    active: dict[int, int] = {}
    for start, n in bursts.items():
        for k in range(3):
            active[start + k] = n
    for i in range(N):
        v = 4 + 3 * _daily(i, 15) + rng.expovariate(1 / 1.5)
        label = active.get(i, 0)
        if label:
            v = 60 + rng.uniform(0, 30)
        rows.append((i, round(v, 2), label))
    return rows


def flaky_exporter(rng: random.Random) -> list[Row]:
    """CPU of a host whose exporter stalls: a 2-hour gap, later a value stuck for 3 hours."""
    rows = []
    gap = range(_at(8.5), _at(8.5) + 24)
    stuck0, stuck1 = _at(17.25), _at(17.25) + 36
    for i in range(N):
        if i in gap:
            continue
        v = round(30 + 20 * _daily(i) + rng.gauss(0, 3), 1)
        label = 0
        if i == gap.stop:
            label = 1
        if stuck0 <= i < stuck1:
            v, label = rows[-1][1] if label == 0 and i > stuck0 else v, 2
        rows.append((i, v, label))
    return rows


SERIES: dict[str, Callable[[random.Random], list[Row]]] = {
    "idle-1__cpu_utilization__percent": idle_cpu,
    "idle-2__cpu_utilization__percent": idle_cpu_half,
    "edge-1__network_in__MBps": traffic,
    "app-1__cpu_utilization__percent": cpu_batch,
    "app-2__mem_used_percent__percent": memory_leak,
    "db-1__disk_used_percent__percent": disk_fill,
    "api-3__mem_used_percent__percent": level_shift,
    "api-1__response_time__ms": latency,
    "db-2__disk_write__MBps": disk_io,
    "batch-1__cpu_utilization__percent": flaky_exporter,
}


def main() -> None:
    for offset, (name, make) in enumerate(SERIES.items()):
        rng = random.Random(20261127 + offset)
        lines = ["timestamp,value,incident"]
        for i, value, label in make(rng):
            ts = (START + i * STEP).isoformat().replace("+00:00", "Z")
            lines.append(f"{ts},{value:g},{label}")
        (OUT / f"{name}.csv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
