"""``nephos hub`` and ``nephos tail`` as real processes against real hubs on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from datetime import UTC, datetime

from websockets.asyncio.client import connect

from nephos.cli.stream_cmd import format_message
from nephos.model import CheckKind, CheckResult, EventKind, Health, to_dict
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import Hub, dial_url
from nephos.stream.protocol import EventMessage, Hello, Snapshot, parse_server_message

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def result(target: str, i: int = 0) -> CheckResult:
    return CheckResult(
        target=target,
        kind=CheckKind.HTTP,
        ts=T0,
        health=Health.UNHEALTHY,
        latency_ms=250.0 + i,
        success=False,
        reason="[STATUS] was 503",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def nephos(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "nephos",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def line(stream: asyncio.StreamReader | None) -> str:
    assert stream is not None
    return (await asyncio.wait_for(stream.readline(), 20)).decode()


async def test_hub_command_serves_the_configured_store_and_exits_0_on_sigterm(tmp_path) -> None:
    db = tmp_path / "hot.db"
    port = free_port()
    config = tmp_path / "nephos.yaml"
    hub = f"{{listen: 127.0.0.1:{port}, ingest_listen: 127.0.0.1:{free_port()}}}"
    config.write_text(f"storage:\n  hot: {{path: {db}}}\nhub: {hub}\n")
    store = SqliteHotStore(str(db))
    await store.open()
    proc = await nephos("hub", "-c", str(config))
    try:
        assert f"ws://127.0.0.1:{port}/" in await line(proc.stderr)
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            assert isinstance(parse_server_message(await ws.recv()), Hello)
            assert isinstance(parse_server_message(await ws.recv()), Snapshot)
            (seq,) = await store.put_results([result("api")])  # another process commits
            event = parse_server_message(await asyncio.wait_for(ws.recv(), 10))
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
        await store.close()
    assert isinstance(event, EventMessage) and event.seq == seq
    assert code == 0


async def test_tail_json_prints_frames_and_survives_a_hub_restart(tmp_path) -> None:
    store = SqliteHotStore(str(tmp_path / "hot.db"))
    await store.open()
    hub = Hub(store, listen="127.0.0.1:0", poll_interval=0.01)
    await hub.start()
    port = hub.port
    proc = await nephos("tail", "--json", "--url", hub.url)
    try:
        frames = [parse_server_message(await line(proc.stdout))]  # the snapshot
        await store.put_results([result("api", 1)])
        hub.notify()
        frames.append(parse_server_message(await line(proc.stdout)))
        await hub.stop()
        await store.put_results([result("api", 2)])  # committed while no hub runs
        hub = Hub(store, listen=f"127.0.0.1:{port}", poll_interval=0.01)
        await hub.start()
        frames.append(parse_server_message(await line(proc.stdout)))
        await store.put_results([result("api", 3)])
        hub.notify()
        frames.append(parse_server_message(await line(proc.stdout)))
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 20)
        assert proc.stderr is not None
        log = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
        await hub.stop()
        await store.close()
    assert isinstance(frames[0], Snapshot)
    assert [f.seq for f in frames[1:] if isinstance(f, EventMessage)] == [1, 2, 3]
    assert "-- reconnecting in" in log and log.count("-- live") == 2
    assert code == 0


def test_readable_lines_escape_control_characters_from_monitored_systems() -> None:
    evil = CheckResult(
        target="\x1b[31mapi",
        kind=CheckKind.HTTP,
        ts=T0,
        health=Health.UNHEALTHY,
        latency_ms=250.0,
        success=False,
        reason="bad\nline",
    )
    text = format_message(EventMessage(seq=9, kind=EventKind.CHECK, ts=T0, data=to_dict(evil)))
    assert "\x1b" not in text and "\n" not in text
    assert "\\x1b[31mapi" in text and "✕ down" in text and "250 ms" in text
    assert "bad\\x0aline" in text


def test_tail_dials_this_machine_when_the_hub_listens_on_every_interface() -> None:
    assert dial_url("0.0.0.0:8765") == "ws://127.0.0.1:8765/"
    assert dial_url("[::1]:9000") == "ws://[::1]:9000/"
