"""DynamoDB Streams -> hub -> client latency, on moto over loopback.

A writer commits metric points to a :class:`DynamoHotStore` at a steady rate (every 10 ms,
whatever is due, like an ingest batch); ``put_metrics`` returns right after its write commits,
so its return is the commit time. A :class:`DynamoStreamTailer` polls the
events table's stream (every 250 ms when idle) and wakes the hub, whose own polling is
switched off (one hour); the hub reads the change feed and sends each event to one WebSocket
client. Latency is from ``put_metrics`` returning to the frame arriving, both on
``time.perf_counter()`` in this process. ``--mode poll`` measures the hub polling the change
feed itself at the same interval, for comparison.

    .venv/bin/python bench/dynamodb_stream.py                       # 100 ev/s for 20 s
    .venv/bin/python bench/dynamodb_stream.py --mode poll --poll 0.25
    .venv/bin/python bench/dynamodb_stream.py --moto process        # moto in its own process

moto runs as a ThreadedMotoServer in this process by default (its request handling then
shares the GIL with the hub); ``--moto process`` starts ``python -m moto.server`` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

from websockets.asyncio.client import connect

from nephos.model import MetricPoint
from nephos.store.dynamo_stream import DynamoStreamTailer, wake_on_stream
from nephos.store.dynamodb import DynamoHotStore
from nephos.stream.hub import Hub


def point(n: int) -> MetricPoint:
    return MetricPoint(f"i-{n % 50}", "cpu", "%", datetime.now(UTC), float(n % 100), "aws")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto(kind: str) -> Iterator[str]:
    """A moto server on loopback, in this process (``thread``) or its own (``process``)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if kind == "thread":
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()
        return
    port = _free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def run(args: argparse.Namespace, endpoint: str) -> dict[str, float]:
    options = {
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "create_tables": True,
        "table_prefix": "bench-",
        "transactions": args.transactions,
    }
    store = DynamoHotStore(options)
    await store.open()
    stream_mode = args.mode == "stream"
    hub = Hub(
        store,
        listen="127.0.0.1:0",
        poll_interval=3600 if stream_mode else args.poll,
        queue_size=100_000,
        ping_interval=None,
    )
    await hub.start()
    waker = None
    if stream_mode:
        tailer = DynamoStreamTailer(store.options, poll_interval=args.poll)
        await tailer.poll()  # at the stream's end before the first write
        waker = asyncio.create_task(wake_on_stream(tailer, hub.notify))
    committed: dict[int, float] = {}
    received: dict[int, float] = {}
    frames = 0

    async with connect(hub.url, max_queue=None) as ws:
        await ws.recv()  # hello
        await ws.recv()  # snapshot

        async def read() -> None:
            nonlocal frames
            async for frame in ws:
                message = json.loads(frame)
                if message.get("type") == "event":
                    received.setdefault(message["seq"], time.perf_counter())
                    frames += 1

        reader = asyncio.create_task(read())
        start = time.perf_counter()
        written = 0
        while (elapsed := time.perf_counter() - start) < args.seconds:
            due = int(args.rate * elapsed) + 1 - written
            if due > 0:
                seqs = await store.put_metrics([point(written + i) for i in range(due)])
                now = time.perf_counter()
                written += due
                for seq in seqs:
                    committed[seq] = now
            await asyncio.sleep(0.01)
        achieved = written / (time.perf_counter() - start)
        deadline = time.perf_counter() + 10
        while len(received.keys() & committed.keys()) < len(committed):
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.05)
        reader.cancel()
    if waker is not None:
        waker.cancel()
    await hub.stop()
    await store.close()
    latencies = sorted((received[s] - committed[s]) * 1000 for s in committed if s in received)
    return {
        "events": len(committed),
        "delivered": len(latencies),
        "repeated": frames - len(received),
        "rate": achieved,
        "p50": statistics.median(latencies),
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max": latencies[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("stream", "poll"), default="stream")
    parser.add_argument("--moto", choices=("thread", "process"), default="thread")
    parser.add_argument("--rate", type=int, default=100, help="events per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll", type=float, default=0.25, help="idle poll interval, s")
    parser.add_argument(
        "--no-transactions", dest="transactions", action="store_false", help="BatchWriteItem"
    )
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with moto(args.moto) as endpoint:
        figures = asyncio.run(run(args, endpoint))
    print(
        f"mode={args.mode} moto={args.moto} poll={args.poll}s transactions={args.transactions} "
        f"target={args.rate}/s for {args.seconds:.0f}s"
    )
    print(
        f"events {figures['events']:.0f}, delivered {figures['delivered']:.0f}, "
        f"repeated {figures['repeated']:.0f}, "
        f"achieved {figures['rate']:.1f} ev/s; latency p50 {figures['p50']:.1f} ms, "
        f"p99 {figures['p99']:.1f} ms, max {figures['max']:.1f} ms"
    )
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")


if __name__ == "__main__":
    main()
