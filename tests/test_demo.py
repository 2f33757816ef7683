"""``nephos demo``: the simulated fleet runs, and every one of its targets reaches the store."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

from nephos.config.types import HotStoreConfig
from nephos.sentinel.events import CheckEvent, SentinelEvent
from nephos.sim.fleet import DemoFleet, run_demo
from nephos.store import open_hot_store


async def _fleet_names() -> set[str]:
    fleet = DemoFleet()
    await fleet.start()
    try:
        return {t.name for t in fleet.targets()}
    finally:
        await fleet.stop()


async def test_a_short_demo_stores_results_for_every_fleet_target(tmp_path: Path) -> None:
    events: list[SentinelEvent] = []
    store_path = str(tmp_path / "demo.db")
    await run_demo(
        store_path=store_path,
        on_event=events.append,
        duration=2.5,
        interval=timedelta(seconds=1),
    )
    names = await _fleet_names()
    store = open_hot_store(HotStoreConfig(path=store_path))
    await store.open()
    try:
        stored = {r.target: r for r in await store.latest_results()}
    finally:
        await store.close()
    assert set(stored) == names
    assert {e.result.target for e in events if isinstance(e, CheckEvent)} == names
    assert {r.provider for r in stored.values()} >= {"aws", "vultr", "gcp", "azure", "static"}
    assert stored["db-dns"].health.value == "healthy"
    assert stored["login-https"].tls is not None


async def test_the_demo_command_stops_by_itself_and_prints_json_lines(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        "demo",
        "--duration",
        "3s",
        "--interval",
        "1s",
        "--json",
        "--store",
        str(tmp_path / "demo.db"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines()]
    checked = {line["result"]["target"] for line in lines if line["type"] == "check"}
    assert checked == await _fleet_names()


async def test_the_headless_demo_prints_readable_lines(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        "demo",
        "--headless",
        "--duration",
        "2s",
        "--interval",
        "1s",
        "--store",
        str(tmp_path / "demo.db"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert text.startswith("nephos demo: a simulated fleet on 127.0.0.1")
    assert "orders-api" in text
