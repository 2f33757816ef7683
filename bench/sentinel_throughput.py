"""Sentinel throughput: N HTTP targets against a local server in another process.

Prints checks per second, CPU seconds per 1,000 checks (of the sentinel's process only: the
server's CPU is measured apart), peak RSS and schedule jitter (actual minus planned start).

    .venv/bin/python bench/sentinel_throughput.py --targets 10000 --interval 2m
    .venv/bin/python bench/sentinel_throughput.py --targets 10000 --interval 10s --cycles 3

The first runs one realistic cycle; the second compresses the cycle to find the ceiling.
Everything the real sentinel does per check is included: the HTTP probe (a new connection per
check, as in production), classification, the guard, metrics, batched SQLite writes and the
alert book.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psutil

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
    b"Connection: keep-alive\r\n\r\nok"
)


# ---------------------------------------------------------------------------- the server


class _Responder(asyncio.Protocol):
    """Answers every HTTP/1.1 request on the connection with a fixed 200, nothing parsed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Responder, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    # Serve until the parent closes our stdin.
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def start_server() -> tuple[subprocess.Popen[str], int]:
    """The server process and its port."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


# ---------------------------------------------------------------------------- the sentinel


def _duration(text: str) -> float:
    from nephos.config import parse_duration

    return parse_duration(text).total_seconds()


async def measure(targets: int, interval: float, cycles: float, port: int, workdir: Path) -> dict:
    from nephos.clock import SystemClock
    from nephos.config.types import Config, HotStoreConfig, SentinelConfig, StorageConfig
    from nephos.model import CheckKind, Target
    from nephos.sentinel.events import CheckEvent, SentinelEvent
    from nephos.sentinel.runner import Sentinel
    from nephos.store import open_hot_store

    every = timedelta(seconds=interval)
    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(workdir / "hot.db"))),
        sentinel=SentinelConfig(interval=every, offline_when_all_fail=False),
        targets=tuple(
            Target(
                name=f"t{i:05d}",
                kind=CheckKind.HTTP,
                address=f"http://127.0.0.1:{port}/t/{i}",
                interval=every,
                timeout=timedelta(seconds=10),
            )
            for i in range(targets)
        ),
    )
    clock = SystemClock()
    store = open_hot_store(config.storage.hot, clock=clock)
    await store.open()
    counts = {"checks": 0, "failed": 0}

    def on_event(event: SentinelEvent) -> None:
        if isinstance(event, CheckEvent):
            counts["checks"] += 1
            counts["failed"] += not event.result.success

    sentinel = Sentinel(config, store=store, clock=clock, on_event=on_event)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    runner = asyncio.create_task(sentinel.run())
    # After the first cycle every target has been seen once: what follows is steady state.
    await asyncio.sleep(interval)
    usage_warm = resource.getrusage(resource.RUSAGE_SELF)
    checks_warm = counts["checks"]
    await asyncio.sleep(interval * (cycles - 1))
    sentinel.stop()
    await runner
    wall = time.perf_counter() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    threads = sorted(
        (round(t.user_time + t.system_time, 2) for t in psutil.Process().threads()), reverse=True
    )
    await store.close()
    cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    checks = counts["checks"]
    steady_checks = checks - checks_warm
    steady_cpu = (usage1.ru_utime - usage_warm.ru_utime) + (usage1.ru_stime - usage_warm.ru_stime)
    scheduler = sentinel.scheduler
    return {
        "targets": targets,
        "interval_s": interval,
        "cycles": cycles,
        "wall_s": round(wall, 2),
        "checks": checks,
        "failed_checks": counts["failed"],
        "checks_per_s": round(checks / wall, 1),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_1000_checks": round(cpu / checks * 1000, 3) if checks else None,
        "checks_per_cpu_s": round(checks / cpu, 1) if cpu else None,
        # After the first cycle (state loaded, series created): only with --cycles 2 or more.
        "steady_cpu_s_per_1000_checks": (
            round(steady_cpu / steady_checks * 1000, 3) if cycles >= 2 and steady_checks else None
        ),
        "steady_checks_per_cpu_s": (
            round(steady_checks / steady_cpu, 1) if cycles >= 2 and steady_cpu else None
        ),
        "thread_cpu_s": threads[:4],
        "peak_rss_mb": round(usage1.ru_maxrss / 1024, 1),
        "jitter_p50_s": round(scheduler.jitter_percentile(50), 4),
        "jitter_p99_s": round(scheduler.jitter_percentile(99), 4),
        "jitter_max_s": round(scheduler.jitter_percentile(100), 4),
    }


def machine() -> dict:
    model = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", default="2m", help="check interval (e.g. 2m, 10s)")
    parser.add_argument("--cycles", type=float, default=1.0, help="how many intervals to run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return
    server, port = start_server()
    server_ps = psutil.Process(server.pid)
    try:
        with tempfile.TemporaryDirectory(prefix="nephos-bench-") as tmp:
            figures = asyncio.run(
                measure(args.targets, _duration(args.interval), args.cycles, port, Path(tmp))
            )
        times = server_ps.cpu_times()
        figures["server_cpu_s"] = round(times.user + times.system, 2)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
    figures["machine"] = machine()
    if args.json:
        print(json.dumps(figures))
        return
    for key, value in figures.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
