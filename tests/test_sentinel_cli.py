"""``nephos sentinel run`` as a long-running process: SIGTERM stops it cleanly with exit 0."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nephos.config.types import HotStoreConfig
from nephos.sim.http_server import HttpSim, Respond
from nephos.store import open_hot_store


@pytest.fixture
async def web() -> AsyncIterator[HttpSim]:
    sim = HttpSim()
    sim.add_route("/ok", Respond(200, body="fine"))
    async with sim:
        yield sim


async def test_sigterm_stops_the_sentinel_with_exit_0_after_storing_what_it_reported(
    tmp_path: Path, web: HttpSim
) -> None:
    store_path = tmp_path / "hot.db"
    config = tmp_path / "nephos.yaml"
    targets = "".join(
        f"  - name: t{i}\n    url: {web.url('/ok')}\n    interval: 1s\n" for i in range(3)
    )
    config.write_text(f"storage:\n  hot:\n    path: {store_path}\ntargets:\n{targets}")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        "sentinel",
        "run",
        "--json",
        "--no-serve",
        "-c",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    reported = []
    while len(reported) < 4:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line, "the sentinel exited early"
        event = json.loads(line)
        if event["type"] == "check":
            reported.append(event)
    proc.send_signal(signal.SIGTERM)
    rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    reported += [e for e in map(json.loads, rest.splitlines()) if e["type"] == "check"]

    store = open_hot_store(HotStoreConfig(path=str(store_path)))
    await store.open()
    try:
        stored = await store.results(limit=10_000)
    finally:
        await store.close()
    assert len(stored) == len(reported)
    assert {r.target for r in stored} == {"t0", "t1", "t2"}
