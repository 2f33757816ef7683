"""Stream latency: hot-store commit to client receive, fan-out, and reconnect after a restart.

Runs on loopback only, for a bounded time. The hub, its SQLite store and a committer (standing
in for the sentinel, which calls ``hub.notify()`` after each commit) share this process.
Clients are real WebSocket connections in worker processes, read by lean epoll loops (the
handshake once, then frame headers and the seq of each event; every byte of every frame is
read and each client's seqs are checked for gaps and duplicates), so that the box's CPU goes to
the hub rather than to client libraries. By default every client reads as soon as data
arrives and every frame is timed. ``--sampled N`` times only N clients and has the others read
everything every ``--sweep`` seconds, in fewer, larger receives; that costs less CPU but is not
the default because a sweep's burst of receives delays the timed readers in the same process
(p99 rises instead of falling). Commit and receive times are both ``time.perf_counter()``, which
on Linux is CLOCK_MONOTONIC and so comparable across processes.

    .venv/bin/python bench/stream_latency.py                  # all three scenarios
    .venv/bin/python bench/stream_latency.py --quick          # shorter runs
    .venv/bin/python bench/stream_latency.py --workers 1 --pin --only 1000  # 1 client process;
                                                       # hub on CPU 0, clients on CPU 1

Goals (issue 3): p99 < 10 ms for 100 clients at 1,000 events/s; p99 < 50 ms for 1,000 clients
at 100 events/s; a client live again within 1 s of the hub being back.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing as mp
import os
import select
import socket
import statistics
import sys
import tempfile
import time
from array import array
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

EVENT = b'{"v":1,"type":"event","seq":'
SNAPSHOT = b'{"v":1,"type":"snapshot"'


class _Reader:
    """One real connection, read with minimal parsing: frame headers, every payload's bytes
    counted, the seq of each event frame checked against the one before it.

    A full client library costs tens of microseconds per message; at 100,000 frames a second
    on a 2-core box that would measure the clients, not the hub.
    """

    __slots__ = ("bad", "buf", "bytes", "count", "first", "last", "seqs", "sock", "times")

    def __init__(self, sock: socket.socket, *, sampled: bool) -> None:
        self.sock = sock
        self.buf = b""
        self.bytes = self.count = self.bad = self.first = self.last = 0
        # Arrival times only on sampled clients; the others are checked for completeness.
        self.seqs: array[int] | None = array("q") if sampled else None
        self.times: array[float] | None = array("d") if sampled else None

    def feed(self, data: bytes, now: float) -> None:
        self.bytes += len(data)
        buf = self.buf + data if self.buf else data
        pos, size = 0, len(buf)
        while size - pos >= 2:
            if buf[pos] & 0x80 == 0:
                raise RuntimeError("fragmented server frame")  # the hub never fragments
            length = buf[pos + 1] & 0x7F  # server frames are unmasked (RFC 6455 5.1)
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            if buf[pos] & 0x0F == 1 and buf.startswith(EVENT, start):
                digits = start + len(EVENT)
                seq = int(buf[digits : buf.index(b",", digits)])
                if self.last and seq != self.last + 1:
                    self.bad += 1  # a gap, a duplicate or a reordering
                if not self.first:
                    self.first = seq
                self.last = seq
                self.count += 1
                if self.seqs is not None and self.times is not None:
                    self.seqs.append(seq)
                    self.times.append(now)
            pos = end
        self.buf = buf[pos:]


def _connect(port: int) -> socket.socket:
    """Open a WebSocket and return once its snapshot is in, i.e. the hub serves it live."""
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    buf = b""
    while SNAPSHOT not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the hub closed during the handshake")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(buf[:60].decode(errors="replace"))
    # Events cannot have arrived yet: the committer starts after every client is ready.
    sock.setblocking(False)
    return sock


def _worker(  # type: ignore[no-untyped-def]
    port, sampled, bulk, sweep, cpus, last_seq_box, ready, results
) -> None:
    """Read ``sampled`` clients as soon as data arrives and ``bulk`` clients every ``sweep``
    seconds (all of their frames, coalesced into fewer receives), until each has the last seq."""
    if cpus:
        os.sched_setaffinity(0, cpus)
    readers = [_Reader(_connect(port), sampled=n < sampled) for n in range(sampled + bulk)]
    fast, slow = select.epoll(), select.epoll()
    by_fd = {}
    for reader in readers:
        (fast if reader.seqs is not None else slow).register(reader.sock.fileno(), select.EPOLLIN)
        by_fd[reader.sock.fileno()] = reader
    ready.release()
    clock = time.perf_counter
    next_sweep = clock() + sweep
    done = False
    while not done:
        timeout = max(0.0, next_sweep - clock()) if bulk else 0.05
        for fd, _ in fast.poll(timeout):
            reader = by_fd[fd]
            reader.feed(reader.sock.recv(65536), clock())
        if bulk and clock() >= next_sweep:
            next_sweep += sweep
            for fd, _ in slow.poll(0):
                reader = by_fd[fd]
                with contextlib.suppress(BlockingIOError):
                    while data := reader.sock.recv(65536):
                        reader.feed(data, 0.0)
        last = last_seq_box.value
        done = bool(last) and all(r.last >= last for r in readers)
    for reader in readers:
        reader.sock.close()
    results.put([(r.count, r.first, r.last, r.bad, r.bytes, r.seqs, r.times) for r in readers])


# --------------------------------------------------------------------------- latency scenario


async def _latency(
    clients: int, rate: int, seconds: float, *, sampled: int, sweep: float, workers: int, pin: bool
) -> dict[str, float]:
    """Commit ``rate`` events a second for ``seconds`` to ``clients`` connections; latency from
    the ``sampled`` ones (read as data arrives), completeness from all of them."""
    ctx = mp.get_context("spawn")
    if pin:
        # The hub (and the committer) on CPU 0, the client processes on CPU 1.
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteHotStore(os.path.join(tmp, "hot.db"))
        await store.open()
        # No keepalive: the bench readers do not answer protocol pings.
        hub = Hub(store, listen="127.0.0.1:0", queue_size=100_000, ping_interval=None)
        await hub.start()
        last_seq = ctx.Value("q", 0)
        ready = ctx.Semaphore(0)
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=_worker,
                args=(
                    hub.port,
                    _share(sampled, i, workers),
                    _share(clients - sampled, i, workers),
                    sweep,
                    {1} if pin else None,
                    last_seq,
                    ready,
                    results,
                ),
            )
            for i in range(workers)
        ]
        for proc in procs:
            proc.start()
        loop = asyncio.get_running_loop()
        for _ in procs:
            await loop.run_in_executor(None, ready.acquire)
        load_before = os.getloadavg()[0]

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
        complete = 0
        first, last = min(committed), max(committed)
        if sorted(committed) != list(range(first, last + 1)):
            raise RuntimeError("the store's seqs are not consecutive; the gap check needs them")
        for _ in procs:
            for count, got_first, got_last, bad, _size, seqs, times in await loop.run_in_executor(
                None, results.get
            ):
                if (count, got_first, got_last, bad) == (len(committed), first, last, 0):
                    complete += 1
                if seqs is not None:
                    samples += [(t - committed[s]) * 1000 for s, t in zip(seqs, times, strict=True)]
        load_after = os.getloadavg()[0]
        for proc in procs:
            proc.join()
        await hub.stop()
        await store.close()
    if pin:
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    summary = _summary(
        samples, expected=len(committed) * sampled, events=len(committed), elapsed=window
    )
    summary.update(complete=complete, clients=clients, load=max(load_before, load_after))
    return summary


def _share(total: int, worker: int, workers: int) -> int:
    return total // workers + (1 if worker < total % workers else 0)


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
    parser.add_argument("--workers", type=int, default=WORKERS, help="client processes")
    parser.add_argument("--pin", action="store_true", help="hub on CPU 0, clients on CPU 1")
    parser.add_argument(
        "--sampled",
        type=int,
        default=None,
        help="clients timed on every frame, reading as data arrives (default: all)",
    )
    parser.add_argument(
        "--sweep", type=float, default=0.05, help="seconds between reads of the other clients"
    )
    parser.add_argument("--only", choices=("100", "1000", "restart"), default=None)
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    trials = 5 if args.quick else 20
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.workers} client "
        f"processes, {'pinned (hub CPU 0, clients CPU 1)' if args.pin else 'not pinned'}, "
        f"untimed clients (if any) read every {args.sweep * 1000:.0f} ms"
    )
    for clients, rate in ((100, 1000), (1000, 100)):
        if args.only not in (None, str(clients)):
            continue
        sampled = clients if args.sampled is None else min(clients, args.sampled)
        r = asyncio.run(
            _latency(
                clients,
                rate,
                seconds,
                sampled=sampled,
                sweep=args.sweep,
                workers=args.workers,
                pin=args.pin,
            )
        )
        print(
            f"{clients:>5} clients ({sampled} timed) @ {rate:>5} ev/s for {seconds:.0f} s: "
            f"{r['events']:.0f} events ({r['rate']:.0f}/s), every event exactly once on "
            f"{r['complete']:.0f}/{clients} clients; timed {r['delivered']:.0f}/"
            f"{r['expected']:.0f}; commit->receive p50 {r['p50_ms']:.2f} ms, "
            f"p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms; load {r['load']:.2f}"
        )
    if args.only not in (None, "restart"):
        return
    r = asyncio.run(_restart(trials, 0.3))
    print(
        f"hub restart ({r['trials']:.0f} trials, down {r['down_s']:.1f} s): hub back -> client "
        f"live p50 {r['p50_ms']:.0f} ms, max {r['max_ms']:.0f} ms"
    )


if __name__ == "__main__":
    main()
