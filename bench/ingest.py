"""Ingest throughput: points per second accepted by POST /ingest and committed to SQLite.

The hub (with its change-feed task, as `nephos hub` runs it), the ingest server, the spooling
writer and the SQLite hot store (WAL, in a temp dir) share this process. Posters run in another
process: several concurrent HTTP/1.1 connections, each sending pre-built 10,000-point JSON
bodies, so that the figure measures the hub and not the clients' serialisation. A point counts
once the hub has answered 202, which it does only after the points are committed (or
spooled); after the run, the rows in SQLite are counted and must equal the points accepted.

    .venv/bin/python bench/ingest.py                      # 60 requests, 4 posters
    .venv/bin/python bench/ingest.py --requests 120 --posters 8 --gzip --ndjson
    .venv/bin/python bench/ingest.py --watch                # a stream client gets every event

Goal (issue 4): at least 50,000 points/s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import multiprocessing as mp
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nephos.clock import SystemClock
from nephos.config.types import HubConfig
from nephos.store.spool import SpoolingWriter
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import serve_hub

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def body(request: int, points: int, *, ndjson: bool, compress: bool) -> bytes:
    """One request: `points` points over 100 instances and 10 metrics, 10 timestamps."""
    items = []
    for i in range(points):
        ts = T0 + timedelta(seconds=request * 10 + i // 1000)
        items.append(
            {
                "instance": f"node-{i % 100:03d}",
                "metric": ("cpu_percent", "mem_percent", "load1", "net_in_bytes_per_s",
                           "net_out_bytes_per_s", "disk_percent:/", "disk_percent:/data",
                           "iops", "latency_ms", "errors")[(i // 100) % 10],
                "unit": "%",
                "ts": ts.isoformat().replace("+00:00", "Z"),
                "value": (i * 7919) % 10000 / 100.0,
                "provider": "aws",
            }
        )  # fmt: skip
    if ndjson:
        raw = "".join(json.dumps(p, separators=(",", ":")) + "\n" for p in items).encode()
    else:
        raw = json.dumps(items, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=1) if compress else raw


class _RawWatcher(asyncio.Protocol):
    """A minimal stream client: the handshake, then frame splitting and a look at each frame's
    first bytes. A full client library costs tens of microseconds a frame, so at tens of
    thousands of events a second it would be the one lagging, not the hub."""

    def __init__(
        self, url: str, expected: int, done: asyncio.Future[None], ready: asyncio.Event
    ) -> None:
        self.url, self.expected, self.done, self.ready = url, expected, done, ready
        self.buffer = b""
        self.open = False
        self.seen = self.lags = self.top = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        key = base64.b64encode(os.urandom(16)).decode()
        host = self.url.split("//", 1)[1].rstrip("/")
        transport.write(
            f"GET /?kinds=metric HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data
        if not self.open:
            head, sep, buf = buf.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = head
                return
            assert head.startswith(b"HTTP/1.1 101"), head[:40]
            self.open = True
            self.ready.set()
        pos = 0
        while len(buf) - pos >= 2:
            length, start = buf[pos + 1] & 0x7F, pos + 2
            if length == 126:
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if len(buf) < start + length or start > len(buf):
                break
            head = buf[start : start + 48]
            if head.startswith(b'{"v":1,"type":"event"'):
                self.seen += 1
            elif head.startswith(b'{"v":1,"type":"lag"'):
                self.lags += 1
            if b'"seq":' in head:
                self.top = max(self.top, int(head.split(b'"seq":', 1)[1].split(b",", 1)[0]))
            pos = start + length
        self.buffer = buf[pos:]
        if self.top >= self.expected and not self.done.done():
            self.done.set_result(None)


def poster_process(
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    posters: int,
    out: mp.Queue,
    watch_url: str | None = None,
    expected: int = 0,
) -> None:
    """Post every body once with `posters` concurrent connections; report to `out`. With
    `watch_url`, a stream client subscribed to metric events counts them as they arrive."""
    import httpx

    async def watch(ready: asyncio.Event) -> tuple[float, int, int]:
        """Until the newest seq arrives: the time, events received, and lags (a client slower
        than the feed is resynced with a snapshot instead of its backlog)."""
        assert watch_url is not None
        loop = asyncio.get_running_loop()
        reader = _RawWatcher(watch_url, expected, loop.create_future(), ready)
        port = int(watch_url.rsplit(":", 1)[1].strip("/"))
        transport, _ = await loop.create_connection(lambda: reader, "127.0.0.1", port)
        try:
            await reader.done
        finally:
            transport.close()
        return time.perf_counter(), reader.seen, reader.lags

    async def main() -> tuple[float, int, list[int], float, tuple[float, int, int] | None]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for b in bodies:
            queue.put_nowait(b)
        statuses: list[int] = []
        accepted = 0

        async def one(client: httpx.AsyncClient) -> None:
            nonlocal accepted
            while not queue.empty():
                b = queue.get_nowait()
                answer = await client.post(url, content=b, headers=headers)
                statuses.append(answer.status_code)
                if answer.status_code == 202:
                    accepted += answer.json()["accepted"]

        limits = httpx.Limits(max_connections=posters)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            # Warm the connections before the clock starts.
            await asyncio.gather(*(client.get(url.replace("/ingest", "/healthz"))
                                   for _ in range(posters)))  # fmt: skip
            watcher = None
            if watch_url is not None:
                ready = asyncio.Event()
                watcher = asyncio.create_task(watch(ready))
                await ready.wait()
            start, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(one(client) for _ in range(posters)))
            elapsed = time.perf_counter() - start
            streamed = None
            if watcher is not None:
                done, seen, lags = await asyncio.wait_for(watcher, 300)
                streamed = (done - start, seen, lags)
            return elapsed, accepted, statuses, time.process_time() - cpu, streamed

    try:
        out.put(asyncio.run(main()))
    except BaseException as exc:
        out.put(exc)  # the parent re-raises it rather than waiting forever
        raise


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="nephos-bench-ingest-"))
    clock = SystemClock()
    store = SqliteHotStore(str(folder / "hot.db"), clock=clock)
    await store.open()
    writer = SpoolingWriter(store, folder / "spool", max_bytes=1 << 30, clock=clock)
    print(f"building {args.requests} bodies of {args.points} points ...", file=sys.stderr)
    bodies = [
        body(r, args.points, ndjson=args.ndjson, compress=args.gzip) for r in range(args.requests)
    ]
    headers = {"Content-Type": "application/x-ndjson" if args.ndjson else "application/json"}
    if args.gzip:
        headers["Content-Encoding"] = "gzip"
    config = HubConfig(listen="127.0.0.1:0")
    ctx = mp.get_context("spawn")
    async with serve_hub(store, config, clock=clock, writer=writer) as hub:
        assert hub.ingest is not None
        out: mp.Queue = ctx.Queue()
        watch_url = hub.url if args.watch else None
        expected = args.requests * args.points
        proc = ctx.Process(
            target=poster_process,
            args=(hub.ingest.url, bodies, headers, args.posters, out, watch_url, expected),
        )
        cpu = time.process_time()  # every thread of this process: HTTP, parsing, SQLite, feed
        proc.start()
        report = await asyncio.to_thread(out.get)
        if isinstance(report, BaseException):
            raise SystemExit(f"the posters failed: {report!r}")
        elapsed, accepted, statuses, poster_cpu, streamed = report
        server_cpu = time.process_time() - cpu
        await asyncio.to_thread(proc.join)
    await writer.close()
    await store.close()
    with sqlite3.connect(folder / "hot.db") as db:
        rows = db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
        events = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'metric'").fetchone()[0]
    refused = sum(1 for s in statuses if s != 202)
    mb = sum(len(b) for b in bodies) / 1e6
    fmt = ("JSON lines" if args.ndjson else "JSON array") + (", gzip" if args.gzip else "")
    print(f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"requests: {args.requests} x {args.points} points ({fmt}, {mb:.1f} MB sent), "
          f"{args.posters} concurrent posters")  # fmt: skip
    print(f"elapsed: {elapsed:.2f} s; refused requests: {refused}")
    print(f"accepted (202): {accepted} points = {accepted / elapsed:,.0f} points/s")
    print(f"hub process CPU: {server_cpu:.2f} s = {accepted / server_cpu:,.0f} points per CPU-s "
          f"({1000 * server_cpu / (accepted / 10_000):.0f} ms per 10,000 points); "
          f"posters' CPU: {poster_cpu:.2f} s")  # fmt: skip
    if streamed is not None:
        until, seen, lags = streamed
        print(f"stream client: had the newest seq {until:.2f} s after the first post; "
              f"{seen} events received, {lags} lags")  # fmt: skip
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (1 min)")
    print(f"in SQLite: {rows} metric rows, {events} metric events (must equal accepted)")
    print(f"goal >= 50,000 points/s: {'met' if accepted / elapsed >= 50_000 else 'MISSED'}")
    if rows != accepted or events != accepted:
        raise SystemExit("rows in SQLite differ from the points accepted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--posters", type=int, default=4)
    parser.add_argument("--gzip", action="store_true", help="send gzipped bodies")
    parser.add_argument("--ndjson", action="store_true", help="send JSON lines, not an array")
    parser.add_argument(
        "--watch", action="store_true", help="a stream client receives every metric event"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
