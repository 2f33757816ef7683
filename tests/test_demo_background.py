"""The demo on its background thread: its hub serves the live fleet to a real WebSocket client."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from nephos.config.types import HotStoreConfig
from nephos.model import EventKind
from nephos.sim.background import BackgroundDemo
from nephos.store import open_hot_store
from nephos.stream.client import StreamClient
from nephos.stream.protocol import EventMessage, Snapshot


async def test_a_client_of_the_background_demo_gets_a_snapshot_then_live_checks(
    tmp_path: Path,
) -> None:
    store_path = str(tmp_path / "demo.db")
    demo = BackgroundDemo(store_path=store_path, interval=timedelta(seconds=1))
    url = await asyncio.to_thread(demo.start)
    assert demo.running
    client = StreamClient(url)
    seen: list[object] = []
    try:
        stream = client.messages()
        while not any(isinstance(m, EventMessage) and m.kind is EventKind.CHECK for m in seen):
            seen.append(await asyncio.wait_for(anext(stream), 10))
    finally:
        await client.close()
        await asyncio.to_thread(demo.stop)
    store = open_hot_store(HotStoreConfig(path=store_path))
    await store.open()
    try:
        stored = await store.latest_results()
    finally:
        await store.close()
    assert url.startswith("ws://127.0.0.1:")
    assert any(isinstance(m, Snapshot) for m in seen)
    assert stored  # the sentinel flushed what it checked before the thread ended


async def test_stopping_the_background_demo_twice_is_harmless(tmp_path: Path) -> None:
    demo = BackgroundDemo(store_path=str(tmp_path / "demo.db"), interval=timedelta(seconds=1))
    await asyncio.to_thread(demo.start)
    await asyncio.to_thread(demo.stop)
    await asyncio.to_thread(demo.stop)
    assert not demo.running
