"""The DynamoDB Streams tailer over moto's streams, and a hub serving a DynamoDB hot store.

moto never closes a shard nor expires an iterator, so those two cases wrap the real boto3
client (a stand-in for the AWS side, not for nephos): one fabricates a closed parent shard in
``describe_stream``, the other hands out a stale or expired iterator once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import connect

from nephos.clock import ManualClock
from nephos.config.types import HotStoreConfig
from nephos.model import CheckKind, CheckResult, EventKind, Health
from nephos.store.dynamo_stream import DynamoStreamTailer, ShardPositions, stream_wakeups
from nephos.store.dynamodb import DynamoHotStore
from nephos.store.dynamodb_client import make_client
from nephos.store.sqlite import SqliteHotStore
from nephos.stream.hub import Hub
from nephos.stream.protocol import EventMessage, Hello, Snapshot, parse_server_message

pytest_plugins = ["tests.dynamo_support"]  # moto_url, aws_env, dynamo_config

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def result(target: str) -> CheckResult:
    return CheckResult(target, CheckKind.HTTP, T0, Health.HEALTHY, 12.0, True)


@pytest.fixture
async def store(dynamo_config: Callable[..., HotStoreConfig]) -> AsyncIterator[DynamoHotStore]:
    hot = DynamoHotStore(dynamo_config(max_attempts=1).options, clock=ManualClock(T0))
    await hot.open()
    yield hot
    await hot.close()


def tailer(store: DynamoHotStore, client: Any = None, **kw: Any) -> DynamoStreamTailer:
    return DynamoStreamTailer(store.options, client=client, **kw)


class StreamsClient:
    """The real dynamodbstreams client, with AWS behaviours that moto lacks injected."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.stale_once = False  # the next NextShardIterator handed out is stale
        self.fail_once: str | None = None  # the next get_records raises this error code
        self.parent_records: list[dict[str, Any]] | None = None  # a closed parent shard's
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def describe_stream(self, **kw: Any) -> Any:
        answer = self.real.describe_stream(**kw)
        if self.parent_records is not None:
            shards = answer["StreamDescription"]["Shards"]
            for shard in shards:
                shard["ParentShardId"] = "shardId-parent"
            shards.insert(
                0,
                {
                    "ShardId": "shardId-parent",
                    "SequenceNumberRange": {
                        "StartingSequenceNumber": "1",
                        "EndingSequenceNumber": "9",
                    },
                },
            )
        return answer

    def get_shard_iterator(self, **kw: Any) -> Any:
        self.calls.append(f"iterator {kw['ShardId']} {kw['ShardIteratorType']}")
        if kw["ShardId"] == "shardId-parent":
            return {"ShardIterator": "parent-iterator"}
        return self.real.get_shard_iterator(**kw)

    def get_records(self, **kw: Any) -> Any:
        if kw["ShardIterator"] == "parent-iterator":
            return {"Records": self.parent_records or []}  # closed: no NextShardIterator
        if self.fail_once:
            error = {"Error": {"Code": self.fail_once, "Message": "injected"}}
            self.fail_once = None
            raise ClientError(error, "GetRecords")  # type: ignore[arg-type]
        answer = self.real.get_records(**kw)
        if self.stale_once and answer.get("Records"):
            self.stale_once = False
            answer["NextShardIterator"] = kw["ShardIterator"][:-8] + "stalexxx"
        return answer


def streams_client(store: DynamoHotStore) -> StreamsClient:
    return StreamsClient(make_client("dynamodbstreams", store.options))


# --------------------------------------------------------------------------- the tailer


async def test_tailer_yields_the_events_written_after_it_started_from_latest(
    store: DynamoHotStore,
) -> None:
    await store.put_results([result("before")])
    tail = tailer(store)
    assert await tail.poll() == []
    seqs = await store.put_results([result("a"), result("b")])
    await store.put_metrics([])
    events = await tail.poll()
    assert [e.seq for e in events] == seqs
    assert [e.kind for e in events] == [EventKind.CHECK, EventKind.CHECK]
    assert [e.data["target"] for e in events] == ["a", "b"]
    assert events == await store.changes(seqs[0] - 1)
    assert len(tail.shard_ids) == 1  # moto makes one shard per table


async def test_tailer_from_trim_horizon_replays_inserts_and_updates_and_skips_voids(
    store: DynamoHotStore,
) -> None:
    first = await store.put_results([result("a")])
    client = make_client("dynamodb", store.options)
    table = store.options.table("events")
    item = client.get_item(TableName=table, Key={"bucket": {"N": "0"}, "seq": {"N": "1"}})["Item"]
    item["data"] = {"S": json.dumps({**json.loads(item["data"]["S"]), "reason": "rewritten"})}
    client.put_item(TableName=table, Item=item)  # a MODIFY record with the new image
    client.put_item(TableName=table, Item={**item, "seq": {"N": "2"}, "kind": {"S": "void"}})
    events = await tailer(store, start="TRIM_HORIZON").poll()
    assert [e.seq for e in events] == [first[0], first[0]]
    assert [e.data["reason"] for e in events] == ["", "rewritten"]


async def test_a_restarted_tailer_resumes_after_its_saved_positions_without_loss_or_repeat(
    store: DynamoHotStore, tmp_path: Path
) -> None:
    path = tmp_path / "positions.json"
    first = tailer(store, positions=ShardPositions(path), start="TRIM_HORIZON")
    written = await store.put_results([result("a"), result("b")])
    assert [e.seq for e in await first.poll()] == written
    assert json.loads(path.read_text())["sequences"]

    while_down = await store.put_results([result("c")])
    second = tailer(store, positions=ShardPositions(path), start="TRIM_HORIZON")
    assert [e.seq for e in await second.poll()] == while_down
    later = await store.put_results([result("d")])
    assert [e.seq for e in await second.poll()] == later


async def test_a_stale_iterator_is_renewed_after_the_last_sequence_number_read(
    store: DynamoHotStore,
) -> None:
    client = streams_client(store)
    tail = tailer(store, client=client, start="TRIM_HORIZON")
    client.stale_once = True
    first = await store.put_results([result("a")])
    assert [e.seq for e in await tail.poll()] == first  # hands back a stale iterator
    second = await store.put_results([result("b"), result("c")])
    assert [e.seq for e in await tail.poll()] == second
    assert client.calls[-1].endswith("AFTER_SEQUENCE_NUMBER")


async def test_an_expired_iterator_is_renewed_after_the_last_sequence_number_read(
    store: DynamoHotStore,
) -> None:
    client = streams_client(store)
    tail = tailer(store, client=client, start="TRIM_HORIZON")
    first = await store.put_results([result("a")])
    assert [e.seq for e in await tail.poll()] == first
    client.fail_once = "ExpiredIteratorException"
    second = await store.put_results([result("b")])
    assert [e.seq for e in await tail.poll()] == second
    assert client.calls[-1].endswith("AFTER_SEQUENCE_NUMBER")


async def test_a_trimmed_shard_is_read_again_from_its_oldest_record(
    store: DynamoHotStore,
) -> None:
    client = streams_client(store)
    tail = tailer(store, client=client, start="TRIM_HORIZON")
    first = await store.put_results([result("a")])
    assert [e.seq for e in await tail.poll()] == first
    client.fail_once = "TrimmedDataAccessException"
    second = await store.put_results([result("b")])
    assert [e.seq for e in await tail.poll()] == [*first, *second]  # all that is left
    assert client.calls[-1].endswith("TRIM_HORIZON")


async def test_a_throttled_shard_waits_for_the_next_round_and_loses_nothing(
    store: DynamoHotStore,
) -> None:
    client = streams_client(store)
    tail = tailer(store, client=client, start="TRIM_HORIZON")
    written = await store.put_results([result("a")])
    client.fail_once = "LimitExceededException"
    assert await tail.poll() == []
    assert [e.seq for e in await tail.poll()] == written


async def test_positions_saved_for_another_stream_are_dropped(
    store: DynamoHotStore, tmp_path: Path
) -> None:
    path = tmp_path / "positions.json"
    old = ShardPositions(path)
    old.adopt("arn:aws:dynamodb:us-east-1:123456789012:table/gone/stream/x")
    old.sequences["shardId-gone"] = "42"
    old.save()
    written = await store.put_results([result("a")])
    tail = tailer(store, positions=ShardPositions(path), start="TRIM_HORIZON")
    assert [e.seq for e in await tail.poll()] == written
    assert "shardId-gone" not in json.loads(path.read_text())["sequences"]


async def test_a_closed_parent_shard_is_read_to_its_end_before_its_child(
    store: DynamoHotStore,
) -> None:
    client = streams_client(store)
    old = {"bucket": {"N": "0"}, "seq": {"N": "7"}, "kind": {"S": "check"}, "ts_us": {"N": "0"}}
    image = {**old, "data": {"S": json.dumps({"target": "from-parent"})}}
    client.parent_records = [{"dynamodb": {"NewImage": image, "SequenceNumber": "5"}}]
    written = await store.put_results([result("a")])
    tail = tailer(store, client=client, start="TRIM_HORIZON")

    from_parent = await tail.poll()
    assert [e.data["target"] for e in from_parent] == ["from-parent"]
    assert tail.positions.finished == {"shardId-parent"}
    assert [c.split()[1] for c in client.calls] == ["shardId-parent"]  # the child waited
    from_child = await tail.poll()
    assert [e.seq for e in from_child] == written
    assert client.calls[-1].endswith("TRIM_HORIZON")


async def test_batches_poll_again_after_the_idle_interval_on_the_clock(
    store: DynamoHotStore,
) -> None:
    clock = ManualClock(T0)
    tail = tailer(store, clock=clock, poll_interval=0.25)
    batches = tail.batches()
    assert await tail.poll() == []  # at the stream's end
    written = await store.put_results([result("a")])
    pending = asyncio.ensure_future(anext(batches))
    batch = await asyncio.wait_for(pending, 10)  # found at once, without sleeping
    assert [e.seq for e in batch] == written
    pending = asyncio.ensure_future(anext(batches))
    written = await store.put_results([result("b")])
    for _ in range(1000):  # the idle round sleeps on the clock: move it until it polls again
        if pending.done():
            break
        clock.advance(0.25)
        await asyncio.sleep(0.01)
    batch = await asyncio.wait_for(pending, 10)
    assert [e.seq for e in batch] == written
    await batches.aclose()


# --------------------------------------------------------------------------- the hub


async def test_a_hub_over_the_dynamodb_store_delivers_snapshot_and_live_events(
    store: DynamoHotStore,
) -> None:
    await store.put_results([result("api")])
    hub = Hub(store, listen="127.0.0.1:0", poll_interval=0.02)
    async with hub, connect(hub.url) as ws:
        hello = parse_server_message(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(hello, Hello) and hello.seq == 1
        snapshot = parse_server_message(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(snapshot, Snapshot)
        assert [r.target for r in snapshot.results] == ["api"]
        written = await store.put_results([result("web")])
        event = parse_server_message(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(event, EventMessage)
        assert (event.seq, event.kind) == (written[0], EventKind.CHECK)


async def test_the_stream_wakes_a_hub_whose_own_polling_never_fires(
    store: DynamoHotStore,
) -> None:
    frozen = ManualClock(T0)  # the hub's poll sleeps on it and never wakes by itself
    hub = Hub(store, listen="127.0.0.1:0", clock=frozen, poll_interval=3600)
    async with (
        hub,
        stream_wakeups(store, hub.notify, poll_interval=0.02) as tail,
        connect(hub.url) as ws,
    ):
        assert tail is not None
        await ws.recv()  # hello
        await ws.recv()  # snapshot
        written = await store.put_results([result("api")])
        event = parse_server_message(await asyncio.wait_for(ws.recv(), 10))
        assert isinstance(event, EventMessage) and event.seq == written[0]


async def test_stream_wakeups_do_nothing_for_a_sqlite_store(tmp_path: Path) -> None:
    sqlite = SqliteHotStore(str(tmp_path / "hot.db"))
    await sqlite.open()
    try:
        async with stream_wakeups(sqlite, lambda: None) as tail:
            assert tail is None
    finally:
        await sqlite.close()
