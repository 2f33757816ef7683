"""nephos agent: this host's points, buffered on disk while the hub is down, delivered once in
order to a real POST /ingest on 127.0.0.1 backed by a real SQLite hot store."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import socket
import sys
from collections import namedtuple
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from nephos.agent.host import DISK_METRIC_PREFIX, HostSampler, disk_mounts
from nephos.agent.pusher import MetricPusher
from nephos.agent.runner import default_ingest_url
from nephos.clock import ManualClock
from nephos.config.types import HubConfig
from nephos.errors import ConfigError
from nephos.model import MetricPoint
from nephos.store.spool import SpoolingWriter
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.ingest_server import IngestServer

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# The shape of psutil.disk_partitions() entries.
sdiskpart = namedtuple("sdiskpart", "device mountpoint fstype opts")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def points(first: int, count: int) -> list[MetricPoint]:
    return [
        MetricPoint("host-1", "cpu_percent", "%", T0 + timedelta(seconds=i), float(i))
        for i in range(first, first + count)
    ]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"))
    await hot.open()
    yield hot
    await hot.close()


@pytest.fixture
async def writer(store: SqliteHotStore, tmp_path: Path) -> AsyncIterator[SpoolingWriter]:
    spooling = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 24, clock=ManualClock(T0))
    yield spooling
    await spooling.close()


async def stored(store: SqliteHotStore) -> list[MetricPoint]:
    return await store.metrics(since=T0 - timedelta(days=1), limit=100_000)


def test_one_collection_produces_sane_points() -> None:
    clock = ManualClock(T0)
    sampler = HostSampler("host-1", provider="static", clock=clock)
    sampler.prime()
    before = sum(psutil.cpu_times())
    while sum(psutil.cpu_times()) == before:  # let the CPU counters tick at least once
        pass
    clock.advance(10)
    sample = sampler.sample()
    by_metric = {p.metric: p for p in sample}
    assert {"cpu_percent", "mem_percent", "net_in_bytes_per_s", "net_out_bytes_per_s"} <= set(
        by_metric
    )
    assert "load1" in by_metric and by_metric["load1"].value >= 0
    disks = [p for p in sample if p.metric.startswith(DISK_METRIC_PREFIX)]
    assert disks and all(p.metric[len(DISK_METRIC_PREFIX) :].startswith("/") for p in disks)
    for p in sample:
        assert (p.instance, p.provider, p.ts) == ("host-1", "static", T0 + timedelta(seconds=10))
        assert math.isfinite(p.value) and p.value >= 0
        if p.unit == "%":
            assert p.value <= 100
    assert by_metric["net_in_bytes_per_s"].unit == "B/s"


def test_the_first_sample_without_a_prime_has_gauges_but_no_rates() -> None:
    metrics = {p.metric for p in HostSampler("host-1", clock=ManualClock(T0)).sample()}
    assert "mem_percent" in metrics
    assert not metrics & {"cpu_percent", "net_in_bytes_per_s", "net_out_bytes_per_s"}


def test_pseudo_filesystems_and_system_mounts_are_skipped() -> None:
    parts = [
        sdiskpart("/dev/vda1", "/", "ext4", "rw"),
        sdiskpart("/dev/vdb1", "/data", "xfs", "rw"),
        sdiskpart("tmpfs", "/tmp", "tmpfs", "rw"),
        sdiskpart("/dev/loop0", "/snap/core/1", "squashfs", "ro"),
        sdiskpart("overlay", "/var/lib/docker/overlay2/x/merged", "overlay", "rw"),
        sdiskpart("proc", "/proc", "proc", "rw"),
        sdiskpart("sshfs", "/mnt/remote", "fuse.sshfs", "rw"),
        sdiskpart("/dev/vda1", "/", "ext4", "rw"),  # the same mount seen twice
    ]
    assert disk_mounts(parts) == ["/", "/data"]


async def test_hub_down_then_up_delivers_buffered_points_once_in_order(
    store: SqliteHotStore, writer: SpoolingWriter, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/ingest"
    first = MetricPusher(url, buffer_dir=tmp_path / "buffer", timeout=2)
    for batch in range(3):
        assert await first.enqueue(points(batch * 10, 10))
        assert await first.drain() is False  # nobody listens yet
    assert first.pending == 30
    await first.close()
    # A restarted agent finds the buffer where the last one left it.
    second = MetricPusher(url, buffer_dir=tmp_path / "buffer", timeout=2)
    async with IngestServer(writer, listen=f"127.0.0.1:{port}"):
        assert await second.enqueue(points(30, 5))
        assert await second.drain() is True
        assert await second.drain() is True  # nothing is sent twice
    await second.close()
    assert [p.value for p in await stored(store)] == [float(i) for i in range(35)]
    assert (second.pending, second.delivered) == (0, 35)


async def test_points_the_hub_refuses_are_set_aside_and_the_rest_flows(
    store: SqliteHotStore, writer: SpoolingWriter, tmp_path: Path
) -> None:
    bad = MetricPoint("host-1", "cpu_percent", "%", T0, math.nan)
    async with IngestServer(writer, listen="127.0.0.1:0") as server:
        pusher = MetricPusher(server.url, buffer_dir=tmp_path / "buffer")
        await pusher.enqueue(points(0, 2))
        await pusher.enqueue([bad])
        await pusher.enqueue(points(2, 2))
        assert await pusher.drain() is True
        await pusher.close()
    assert [p.value for p in await stored(store)] == [0.0, 1.0, 2.0, 3.0]
    assert pusher.rejected == 1
    aside = (tmp_path / "buffer" / "rejected.jsonl").read_text().splitlines()
    assert len(aside) == 1 and "value" in json.loads(aside[0])["reason"]


async def test_a_wrong_token_keeps_points_buffered(
    store: SqliteHotStore, writer: SpoolingWriter, tmp_path: Path
) -> None:
    token = "the-right-token-123456"
    async with IngestServer(writer, listen="127.0.0.1:0", token=token) as server:
        wrong = MetricPusher(server.url, buffer_dir=tmp_path / "buffer", token="wrong" * 4)
        await wrong.enqueue(points(0, 3))
        assert await wrong.drain() is False
        await wrong.close()
        right = MetricPusher(server.url, buffer_dir=tmp_path / "buffer", token=token)
        assert await right.drain() is True
        await right.close()
    assert len(await stored(store)) == 3


async def test_a_full_buffer_refuses_new_samples_and_counts_them(tmp_path: Path) -> None:
    pusher = MetricPusher(
        f"http://127.0.0.1:{free_port()}/ingest", buffer_dir=tmp_path / "b", buffer_max_bytes=2048
    )
    accepted = [await pusher.enqueue(points(i, 5)) for i in range(0, 50, 5)]
    await pusher.close()
    assert accepted[0] is True and accepted[-1] is False
    assert pusher.dropped > 0 and pusher.pending == 5 * accepted.count(True)


def test_the_default_url_is_the_hubs_ingest_address() -> None:
    assert default_ingest_url(HubConfig()) == "http://127.0.0.1:8766/ingest"
    assert default_ingest_url(HubConfig(ingest_listen="0.0.0.0:9000")) == (
        "http://127.0.0.1:9000/ingest"
    )
    with pytest.raises(ConfigError, match="switched off"):
        default_ingest_url(HubConfig(ingest_listen="off"))


async def nephos(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nephos", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_agent_once_pushes_one_sample_of_this_host(
    store: SqliteHotStore, writer: SpoolingWriter, tmp_path: Path
) -> None:
    async with IngestServer(writer, listen="127.0.0.1:0") as server:
        proc = await nephos(
            "agent", "--once", "--url", server.url, "--instance", "box-7",
            "--buffer-dir", str(tmp_path / "buffer"),
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    metrics = {p.metric for p in await store.metrics("box-7", since=T0.replace(year=2000))}
    assert {"cpu_percent", "mem_percent", "load1", "net_in_bytes_per_s"} <= metrics


async def test_agent_once_with_the_hub_down_exits_4_and_keeps_the_sample(tmp_path: Path) -> None:
    proc = await nephos(
        "agent", "--once", "--url", f"http://127.0.0.1:{free_port()}/ingest",
        "--buffer-dir", str(tmp_path / "buffer"),
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 4
    assert "stays buffered" in err.decode()
    assert list((tmp_path / "buffer").glob("seg-*.jsonl"))


async def test_agent_runs_until_sigterm_and_exits_0(
    store: SqliteHotStore, writer: SpoolingWriter, tmp_path: Path
) -> None:
    async with IngestServer(writer, listen="127.0.0.1:0") as server:
        proc = await nephos(
            "agent", "--url", server.url, "--interval", "1s", "--instance", "box-8",
            "--buffer-dir", str(tmp_path / "buffer"),
        )  # fmt: skip
        assert proc.stderr is not None
        banner = await asyncio.wait_for(proc.stderr.readline(), 30)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert b"box-8" in banner and code == 0
