"""Stream latency: hot-store commit to client receive, fan-out, and reconnect after a restart.

Runs on loopback only, for a bounded time. The hub, its SQLite store and a committer (standing
in for the sentinel, which calls ``hub.notify()`` after each commit) share this process;
clients run in worker processes so that their parsing does not steal the hub's loop. Commit and
receive times are both ``time.perf_counter()``, which on Linux is CLOCK_MONOTONIC and so
comparable across processes.

    .venv/bin/python bench/stream_latency.py            # all three scenarios
    .venv/bin/python bench/stream_latency.py --quick    # shorter runs

Goals (issue 3): p99 < 10 ms for 100 clients at 1,000 events/s; p99 < 50 ms for 1,000 clients
at 100 events/s; a client live again within 1 s of the hub being back.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import re
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime

from nephos.model import CheckKind, CheckResult, Health
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import Hub

WORKERS = 2


def result(n: int) -> CheckResult:
    return CheckResult(
        target=f"target-{n % 200}",
        kind=CheckKind.HTTP,
        ts=datetime.now(UTC),
        health=Health.HEALTHY,
        latency_ms=42.0,
        success=True,
        provider="aws",
        status_code=200,
    )


# --------------------------------------------------------------------------- client workers

SEQ = re.compile(rb'"type":"event","seq":(\d+)')


class _RawClient(asyncio.Protocol):
    """A minimal WebSocket reader: it does the handshake, then only splits server frames and
    notes each event's seq and arrival time. A full client library costs tens of microseconds
    per message, so 100,000 messages a second would measure the clients, not the hub."""

    def __init__(self, path: str, port: int, upgraded: asyncio.Future[None], out: list) -> None:  # type: ignore[type-arg]
        self.path, self.port, self.upgraded, self.out = path, port, upgraded, out
        self.buffer = b""
        self.open = False

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self.buffer + data
        if not self.open:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = buf
                return
            assert head.startswith(b"HTTP/1.1 101"), head[:40]
            self.open = True
            buf = rest
        pos = 0
        while len(buf) - pos >= 2:
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if len(buf) - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if len(buf) - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if len(buf) < start + length:
                break
            match = SEQ.match(buf, start + 7)
            if match:
                self.out.append((int(match.group(1)), now))
            elif not self.upgraded.done() and buf.startswith(b'"type":"snapshot"', start + 7):
                self.upgraded.set_result(None)  # events after this one are all due to us
            pos = start + length
        self.buffer = buf[pos:]


def _worker(url: str, readers: int, sinks: int, last_seq_box, ready, results) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_worker_main(url, readers, sinks, last_seq_box, ready, results))


async def _worker_main(url, readers, sinks, last_seq_box, ready, results) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    received: list[tuple[int, float]] = []
    transports = []
    for n in range(readers + sinks):
        sink = n >= readers
        sock = socket.socket()
        if sink:
            # A sink never reads after its snapshot; a large receive buffer holds the whole run
            # so the hub writes to it as to any other client, at no CPU cost to this process.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        upgraded: asyncio.Future[None] = loop.create_future()
        out = [] if sink else received
        transport, _ = await loop.create_connection(
            lambda u=upgraded, o=out: _RawClient("/", port, u, o), sock=sock
        )
        await upgraded
        if sink:
            transport.pause_reading()
        transports.append(transport)
    ready.release()
    while (
        not last_seq_box.value or sum(1 for s, _ in received if s >= last_seq_box.value) < readers
    ):
        await asyncio.sleep(0.05)
    for transport in transports:
        transport.close()
    results.put(received)


# --------------------------------------------------------------------------- latency scenario


async def _latency(
    clients: int, rate: int, seconds: float, *, readers: int | None = None
) -> dict[str, float]:
    """Latency measured on ``readers`` clients (all by default); the rest are sinks."""
    readers = clients if readers is None else readers
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteHotStore(os.path.join(tmp, "hot.db"))
        await store.open()
        # No keepalive: the raw bench clients do not answer protocol pings.
        hub = Hub(store, listen="127.0.0.1:0", queue_size=100_000, ping_interval=None)
        await hub.start()
        last_seq = ctx.Value("q", 0)
        ready = ctx.Semaphore(0)
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=_worker,
                args=(
                    hub.url,
                    _share(readers, i),
                    _share(clients - readers, i),
                    last_seq,
                    ready,
                    results,
                ),
            )
            for i in range(WORKERS)
        ]
        for proc in procs:
            proc.start()
        loop = asyncio.get_running_loop()
        for _ in procs:
            await loop.run_in_executor(None, ready.acquire)

        committed: dict[int, float] = {}
        # Like a sentinel: every tick, commit in one batch whatever results are due by now
        # (a late tick commits more), then notify the hub.
        tick = 0.01
        start = time.perf_counter()
        n = 0
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(rate * elapsed) + 1 - n
            if due > 0:
                seqs = await store.put_results([result(n + i) for i in range(due)])
                now = time.perf_counter()
                hub.notify()
                n += due
                for seq in seqs:
                    committed[seq] = now
            await asyncio.sleep(tick)
        window = time.perf_counter() - start
        last_seq.value = max(committed)
        samples: list[float] = []
        for _ in procs:
            received = await loop.run_in_executor(None, results.get)
            samples += [(t - committed[s]) * 1000 for s, t in received if s in committed]
        for proc in procs:
            proc.join()
        await hub.stop()
        await store.close()
    return _summary(
        samples, expected=len(committed) * readers, events=len(committed), elapsed=window
    )


def _share(total: int, worker: int) -> int:
    return total // WORKERS + (1 if worker < total % WORKERS else 0)


def _summary(
    samples: list[float], *, expected: int, events: int, elapsed: float
) -> dict[str, float]:
    samples.sort()

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))]

    return {
        "events": events,
        "rate": events / elapsed,
        "delivered": len(samples),
        "expected": expected,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": samples[-1],
        "mean_ms": statistics.fmean(samples),
    }


# --------------------------------------------------------------------------- restart scenario


async def _restart(trials: int, down: float) -> dict[str, float]:
    from nephos.stream.client import Phase, StateChange, StreamClient

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteHotStore(os.path.join(tmp, "hot.db"))
        await store.open()
        hub = Hub(store, listen="127.0.0.1:0")
        await hub.start()
        port = hub.port
        client = StreamClient(hub.url)
        stream = client.messages()
        back_at = 0.0
        timings: list[float] = []

        async def next_live() -> float:
            async for message in stream:
                if isinstance(message, StateChange) and message.state.phase is Phase.LIVE:
                    return time.perf_counter()
            raise RuntimeError("stream ended")

        await next_live()
        for _ in range(trials):
            await hub.stop()
            await asyncio.sleep(down)
            hub = Hub(store, listen=f"127.0.0.1:{port}")
            await hub.start()
            back_at = time.perf_counter()
            live_at = await next_live()
            timings.append((live_at - back_at) * 1000)
        await client.close()
        await stream.aclose()
        await hub.stop()
        await store.close()
    timings.sort()
    return {
        "trials": trials,
        "down_s": down,
        "p50_ms": timings[len(timings) // 2],
        "max_ms": timings[-1],
        "mean_ms": statistics.fmean(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--seconds", type=float, default=None)
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    trials = 5 if args.quick else 20
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {WORKERS} client processes")
    scenarios = ((100, 1000, None), (1000, 100, None), (1000, 100, 50))
    for clients, rate, readers in scenarios:
        r = asyncio.run(_latency(clients, rate, seconds, readers=readers))
        measured = "all reading" if readers is None else f"{readers} reading, the rest sinks"
        print(
            f"{clients:>5} clients ({measured}) @ {rate:>5} ev/s for {seconds:.0f} s: "
            f"{r['events']:.0f} events ({r['rate']:.0f}/s), delivered {r['delivered']:.0f}/"
            f"{r['expected']:.0f}; commit->receive p50 {r['p50_ms']:.2f} ms, "
            f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms"
        )
    r = asyncio.run(_restart(trials, 0.3))
    print(
        f"hub restart ({r['trials']:.0f} trials, down {r['down_s']:.1f} s): hub back -> client "
        f"live p50 {r['p50_ms']:.0f} ms, max {r['max_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
