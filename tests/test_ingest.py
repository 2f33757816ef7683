"""POST /ingest over real HTTP on 127.0.0.1, into a real SQLite hot store, streamed by the hub."""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from nephos.clock import ManualClock
from nephos.config.types import HubConfig
from nephos.errors import ConfigError
from nephos.model import EventKind, MetricPoint
from nephos.store.spool import SpoolingWriter
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import Hub, serve_hub
from nephos.stream.ingest_server import IngestServer, ingest_listen
from nephos.stream.protocol import EventMessage, parse_server_message

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TOKEN = "s3cret-token-for-tests"


def point(i: int = 0, *, instance: str = "node-1", metric: str = "cpu_percent") -> dict[str, Any]:
    ts = (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    return {"instance": instance, "metric": metric, "unit": "%", "ts": ts, "value": float(i)}


@dataclass
class Served:
    store: SqliteHotStore
    writer: SpoolingWriter
    hub: Hub
    url: str
    db_path: Path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    db_path = tmp_path / "hot.db"
    store = SqliteHotStore(str(db_path), busy_timeout=0.05)
    await store.open()
    # The retry sleeps on a manual clock: tests replay the spool with an explicit flush().
    writer = SpoolingWriter(store, tmp_path / "spool", max_bytes=64 << 20, clock=ManualClock(T0))
    config = HubConfig(listen="127.0.0.1:0")
    async with serve_hub(store, config, clock=ManualClock(T0), writer=writer) as hub:
        assert hub.ingest is not None
        yield Served(store, writer, hub, hub.ingest.url, db_path)
    await writer.close()
    await store.close()


async def post(url: str, body: bytes | str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=body, headers=headers, timeout=30)


def as_lines(points: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(p) + "\n" for p in points)


async def stored(store: SqliteHotStore) -> list[MetricPoint]:
    return await store.metrics(since=T0 - timedelta(days=1), limit=100_000)


async def test_a_json_array_is_accepted_with_202_and_stored(served: Served) -> None:
    answer = await post(
        served.url, json.dumps([point(0), point(1)]), **{"Content-Type": "application/json"}
    )
    assert answer.status_code == 202
    assert answer.json() == {"accepted": 2, "spooled": False}
    points = await stored(served.store)
    assert [(p.instance, p.metric, p.unit, p.ts, p.value) for p in points] == [
        ("node-1", "cpu_percent", "%", T0, 0.0),
        ("node-1", "cpu_percent", "%", T0 + timedelta(seconds=1), 1.0),
    ]


async def test_a_body_without_a_type_is_sniffed_as_array_or_lines(served: Served) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}  # curl -d's default
    array = await post(served.url, json.dumps([point(0)]), **form)
    lines = await post(served.url, as_lines([point(1), point(2)]))
    assert (array.status_code, lines.status_code) == (202, 202)
    assert [p.value for p in await stored(served.store)] == [0.0, 1.0, 2.0]


async def test_json_lines_are_accepted(served: Served) -> None:
    body = as_lines([point(i) for i in range(3)])
    answer = await post(served.url, body, **{"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 202 and answer.json()["accepted"] == 3
    assert [p.value for p in await stored(served.store)] == [0.0, 1.0, 2.0]


async def test_a_gzipped_body_is_accepted(served: Served) -> None:
    body = gzip.compress(as_lines([point(i) for i in range(5)]).encode())
    answer = await post(
        served.url, body, **{"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    )
    assert answer.status_code == 202 and answer.json()["accepted"] == 5
    assert len(await stored(served.store)) == 5


async def test_ten_thousand_points_are_accepted_and_one_more_is_413(served: Served) -> None:
    many = [point(i % 600, instance=f"node-{i // 600}") for i in range(10_000)]
    ok = await post(served.url, json.dumps(many), **{"Content-Type": "application/json"})
    over = await post(
        served.url, json.dumps([*many, point(0)]), **{"Content-Type": "application/json"}
    )
    assert ok.status_code == 202 and ok.json()["accepted"] == 10_000
    assert over.status_code == 413 and "10001 points" in over.json()["error"]
    assert len(await stored(served.store)) == 10_000


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"value": None}, "value"),
        ({"value": True}, "value"),
        ({"value": "12"}, "value"),
        ({"ts": "yesterday"}, "ts"),
        ({"ts": "2026-01-05T12:00:00"}, "ts"),  # no offset
        ({"ts": 1e15}, "ts"),  # microseconds, not seconds
        ({"instance": "x" * 257}, "instance"),
        ({"metric": ""}, "metric"),
        ({"unit": 7}, "unit"),
        ({"provider": ""}, "provider"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_a_bad_point_is_400_naming_its_index_and_field(
    served: Served, change: dict[str, Any], field: str
) -> None:
    points = [point(0), point(1), {**point(2), **change}]
    answer = await post(served.url, json.dumps(points), **{"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["index"] == 2 and answer.json()["field"] == field
    assert answer.json()["error"].startswith(f"point 2: {field}:")
    assert await stored(served.store) == []  # a request is accepted whole or not at all


async def test_a_missing_field_and_a_non_finite_value_are_named(served: Served) -> None:
    missing = {k: v for k, v in point(0).items() if k != "unit"}
    nan_line = '{"instance":"a","metric":"m","unit":"","ts":0,"value":NaN}\n'
    first = await post(served.url, json.dumps([missing]), **{"Content-Type": "application/json"})
    second = await post(
        served.url, as_lines([point(0)]) + nan_line, **{"Content-Type": "application/x-ndjson"}
    )
    third = await post(served.url, "[1e999]", **{"Content-Type": "application/json"})
    assert first.status_code == 400 and first.json()["error"] == "point 0: unit: missing"
    # NaN and Infinity are not JSON: refused by the parser, and on a line the line is named.
    assert second.status_code == 400 and second.json()["index"] == 1
    assert second.json()["error"].startswith("point 1: not JSON")
    assert third.status_code == 400 and "not JSON" in third.json()["error"]


async def test_a_bad_json_line_is_400_naming_the_line(served: Served) -> None:
    body = as_lines([point(0), point(1)]) + "{not json\n"
    answer = await post(served.url, body, **{"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 400 and answer.json()["index"] == 2


async def test_epoch_seconds_and_offsets_are_read_as_utc(served: Served) -> None:
    body = [
        {**point(0), "ts": T0.timestamp() + 0.5},
        {**point(0), "ts": "2026-01-05T14:00:01+02:00", "provider": "aws"},
    ]
    answer = await post(served.url, json.dumps(body), **{"Content-Type": "application/json"})
    assert answer.status_code == 202
    points = await stored(served.store)
    assert [p.ts for p in points] == [T0 + timedelta(seconds=0.5), T0 + timedelta(seconds=1)]
    assert [p.provider for p in points] == ["other", "aws"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Type": "text/csv"}, b"a,b", 415),
        ({"Content-Type": "application/json"}, b'{"instance": "a"}', 400),
        ({"Content-Type": "application/json", "Content-Encoding": "br"}, b"[]", 415),
        ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"not gzip", 400),
    ],
)
async def test_bodies_that_are_not_points_are_refused(
    served: Served, headers: dict[str, str], body: bytes, status: int
) -> None:
    answer = await post(served.url, body, **headers)
    assert answer.status_code == status and "error" in answer.json()


async def test_an_oversized_body_and_a_gzip_bomb_are_413(served: Served) -> None:
    async with IngestServer(served.writer, listen="127.0.0.1:0", max_body_bytes=4096) as small:
        big = await post(small.url, json.dumps([point(i) for i in range(100)]))
        bomb = gzip.compress(b"[" + b" " * 1_000_000 + b"]")
        inflated = await post(
            small.url, bomb, **{"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )
    assert len(bomb) < 4096
    assert big.status_code == 413 and inflated.status_code == 413
    assert "decompresses to more than 4096 bytes" in inflated.json()["error"]


async def test_a_token_is_required_when_the_hub_has_one(served: Served) -> None:
    async with IngestServer(served.writer, listen="127.0.0.1:0", token=TOKEN) as guarded:
        body = json.dumps([point(0)])
        none = await post(guarded.url, body)
        wrong = await post(guarded.url, body, Authorization="Bearer wrong-token-wrong-token")
        right = await post(guarded.url, body, Authorization=f"Bearer {TOKEN}")
    assert none.status_code == 401 and wrong.status_code == 401
    assert none.headers["WWW-Authenticate"] == 'Bearer realm="nephos"'
    assert right.status_code == 202
    assert len(await stored(served.store)) == 1


def test_ingest_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="token"):
        IngestServer(None, listen="0.0.0.0:0")  # type: ignore[arg-type]


def test_ingest_listens_next_to_the_hub_unless_configured() -> None:
    assert ingest_listen(HubConfig(listen="127.0.0.1:8765")) == "127.0.0.1:8766"
    assert ingest_listen(HubConfig(listen="127.0.0.1:0")) == "127.0.0.1:0"
    assert ingest_listen(HubConfig(ingest_listen="[::1]:9000")) == "[::1]:9000"
    assert ingest_listen(HubConfig(ingest_listen="off")) is None


async def test_healthz_answers_on_the_ingest_port(served: Served) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(served.url.replace("/ingest", "/healthz"))
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


async def test_points_posted_while_the_store_is_locked_are_spooled_then_stored_once(
    served: Served,
) -> None:
    blocker = sqlite3.connect(served.db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        answer = await post(served.url, json.dumps([point(i) for i in range(50)]))
        later = await post(served.url, json.dumps([point(i) for i in range(50, 60)]))
        assert served.writer.pending() == 60
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await served.writer.flush()
    points = await stored(served.store)
    assert answer.status_code == 202 and answer.json() == {"accepted": 50, "spooled": True}
    assert later.status_code == 202 and later.json()["spooled"] is True
    assert [p.value for p in points] == [float(i) for i in range(60)]
    assert served.writer.pending() == 0


async def test_a_stream_client_receives_ingested_points_as_metric_events(served: Served) -> None:
    async with connect(served.hub.url + "?kinds=metric") as ws:
        parse_server_message(await ws.recv())  # hello
        parse_server_message(await ws.recv())  # snapshot
        answer = await post(served.url, json.dumps([point(0), point(1, instance="node-2")]))
        events: list[EventMessage] = []
        while len(events) < 2:
            message = parse_server_message(await asyncio.wait_for(ws.recv(), 10))
            if isinstance(message, EventMessage):
                events.append(message)
    assert answer.status_code == 202
    assert [e.kind for e in events] == [EventKind.METRIC, EventKind.METRIC]
    assert [e.data["instance"] for e in events] == ["node-1", "node-2"]


DOC = Path(__file__).parent.parent / "docs" / "protocol.md"
DOC_EXAMPLES = re.findall(r"```(json|ndjson) ingest\n(.*?)```", DOC.read_text(), re.DOTALL)


@pytest.mark.parametrize(("form", "text"), DOC_EXAMPLES)
async def test_the_ingest_examples_in_the_protocol_doc_are_accepted(
    served: Served, form: str, text: str
) -> None:
    kind = "application/json" if form == "json" else "application/x-ndjson"
    answer = await post(served.url, text, **{"Content-Type": kind})
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == (len(json.loads(text)) if form == "json" else 2)


async def test_ingest_counters_join_the_hubs_prometheus_metrics(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    store = SqliteHotStore(str(tmp_path / "hot.db"))
    await store.open()
    writer = SpoolingWriter(store, tmp_path / "spool", max_bytes=1 << 20, clock=ManualClock(T0))
    registry = CollectorRegistry()
    config = HubConfig(listen="127.0.0.1:0")
    try:
        async with serve_hub(
            store, config, clock=ManualClock(T0), registry=registry, writer=writer
        ) as hub:
            assert hub.ingest is not None
            await post(hub.ingest.url, json.dumps([point(0), point(1)]))
            await post(hub.ingest.url, "[1]", **{"Content-Type": "application/json"})
            accepted = registry.get_sample_value("nephos_ingest_points_total")
            refused = registry.get_sample_value("nephos_ingest_refused_requests_total")
            spooled = registry.get_sample_value("nephos_ingest_spooled_points_total")
    finally:
        await writer.close()
        await store.close()
    assert (accepted, refused, spooled) == (2, 1, 0)
