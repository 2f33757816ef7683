"""The DynamoDB hot store beyond the shared contract, on a moto server over loopback:
table setup, TTL, conditional writes, the change feed's holes, options and error mapping."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from nephos.clock import ManualClock
from nephos.config.loader import parse_config
from nephos.config.types import HotStoreConfig
from nephos.errors import ConfigError, StoreError, StoreUnavailable
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    Health,
    MetricPoint,
    Severity,
)
from nephos.store import open_hot_store
from nephos.store.dynamodb import DynamoHotStore
from nephos.store.dynamodb_client import DynamoOptions, map_dynamo_error
from nephos.store.dynamodb_feed import COUNTER_KEY

pytest_plugins = ["tests.dynamo_support"]  # moto_url, aws_env, dynamo_config

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=7)
Configs = Callable[..., HotStoreConfig]


def result(target: str = "api", at: timedelta = timedelta(0)) -> CheckResult:
    return CheckResult(target, CheckKind.HTTP, T0 + at, Health.HEALTHY, 12.0, True)


def alert(alert_id: str = "al-1", **kw: object) -> Alert:
    fields: dict[str, object] = {
        "id": alert_id,
        "dedup_key": "api:status",
        "target": "api",
        "source": AlertSource.SENTINEL,
        "state": AlertState.FIRING,
        "severity": Severity.CRITICAL,
        "title": "api is down",
        "message": "[STATUS] was 503",
        "started_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    return Alert(**fields)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def store(dynamo_config: Configs, clock: ManualClock) -> AsyncIterator[DynamoHotStore]:
    cfg = dynamo_config(gap_timeout=10)
    hot = DynamoHotStore(cfg.options, clock=clock, retention=RETENTION)
    await hot.open()
    yield hot
    await hot.close()


def raw(store: DynamoHotStore, moto_url: str) -> tuple[object, str]:
    client = boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1")
    return client, store.options.table_prefix


# --------------------------------------------------------------------------- tables


async def test_open_creates_on_demand_tables_with_new_image_streams_and_ttl(
    store: DynamoHotStore, moto_url: str
) -> None:
    client, prefix = raw(store, moto_url)
    for role in ("results", "alerts", "instances", "events"):
        table = client.describe_table(TableName=prefix + role)["Table"]  # type: ignore[attr-defined]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
        ttl = client.describe_time_to_live(TableName=prefix + role)["TimeToLiveDescription"]  # type: ignore[attr-defined]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


async def test_open_without_create_tables_names_the_missing_table(
    dynamo_config: Configs,
) -> None:
    hot = DynamoHotStore(dynamo_config(create_tables=False).options)
    with pytest.raises(StoreError, match=r"table t\w+-results does not exist") as caught:
        await hot.open()
    assert not isinstance(caught.value, StoreUnavailable)
    await hot.close()


async def test_an_unreachable_endpoint_is_store_unavailable(aws_env: None) -> None:
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "region": "us-east-1"}
    hot = DynamoHotStore({**options, "max_attempts": 1, "connect_timeout": 0.5})
    with pytest.raises(StoreUnavailable, match="cannot open"):
        await hot.open()
    await hot.close()


def test_throttling_maps_to_unavailable_and_a_bad_request_to_store_error() -> None:
    def client_error(code: str, status: int) -> ClientError:
        body = {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return ClientError(body, "PutItem")  # type: ignore[arg-type]

    throttled = map_dynamo_error(client_error("ThrottlingException", 400), "here", "write")
    assert isinstance(throttled, StoreUnavailable)
    assert str(throttled) == "here: cannot write: ThrottlingException: m"
    bad = map_dynamo_error(client_error("ValidationException", 400), "here", "write")
    assert type(bad) is StoreError


def test_options_are_checked_by_name_and_type() -> None:
    with pytest.raises(ConfigError, match=r"unknown dynamodb option\(s\): tabel_prefix"):
        DynamoOptions.parse({"tabel_prefix": "x-"})
    with pytest.raises(ConfigError, match=r"storage\.hot\.create_tables: must be true or false"):
        DynamoOptions.parse({"create_tables": "yes"})
    with pytest.raises(ConfigError, match="gap_timeout"):
        DynamoOptions.parse({"gap_timeout": 0})
    parsed = DynamoOptions.parse({"table_prefix": "prod-", "region": "eu-west-1"})
    assert parsed.table("events") == "prod-events"


def test_the_config_file_names_the_line_of_a_bad_dynamodb_option() -> None:
    text = (
        "storage:\n"
        "  hot:\n"
        "    backend: dynamodb\n"
        "    table-prefix: prod-\n"
        "    region: eu-west-1\n"
        "    gap_timeout: -1\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="nephos.yaml", env={})
    assert str(caught.value) == (
        "nephos.yaml:6: storage.hot.gap_timeout: must be a number of seconds > 0"
    )
    good = parse_config(text.replace("gap_timeout: -1", "gap_timeout: 12"), env={})
    assert good.storage.hot.options == {
        "table-prefix": "prod-",
        "region": "eu-west-1",
        "gap_timeout": 12,
    }
    assert DynamoOptions.parse(good.storage.hot.options).table("alerts") == "prod-alerts"


def test_open_hot_store_builds_the_dynamodb_backend_from_its_options(
    dynamo_config: Configs,
) -> None:
    cfg = dynamo_config()
    hot = open_hot_store(cfg)
    assert isinstance(hot, DynamoHotStore)
    assert hot.options.create_tables is True


# --------------------------------------------------------------------------- TTL


async def test_every_stored_item_carries_its_expiry_and_open_alerts_never_expire(
    store: DynamoHotStore, moto_url: str
) -> None:
    await store.put_results([result()])
    await store.put_alert(alert("al-open"))
    await store.put_alert(alert("al-done", state=AlertState.RESOLVED, resolved_at=T0))
    client, prefix = raw(store, moto_url)
    expected = int((T0 + RETENTION).timestamp())
    for item in client.scan(TableName=prefix + "results")["Items"]:  # type: ignore[attr-defined]
        assert int(item["expires_at"]["N"]) == expected
    alerts = {
        i["id"]["S"]: i
        for i in client.scan(TableName=prefix + "alerts")["Items"]  # type: ignore[attr-defined]
    }
    assert "expires_at" not in alerts["al-open"]
    assert int(alerts["al-done"]["expires_at"]["N"]) == expected
    events = client.scan(TableName=prefix + "events")["Items"]  # type: ignore[attr-defined]
    assert {int(e["expires_at"]["N"]) for e in events} == {int((T0 + 2 * RETENTION).timestamp())}


async def test_reads_ignore_expired_items_that_ttl_has_not_deleted_yet(
    store: DynamoHotStore, clock: ManualClock, moto_url: str
) -> None:
    await store.put_results([result("old"), result("new", timedelta(days=2))])
    await store.put_metrics([MetricPoint("i-1", "cpu", "%", T0, 1.0)])
    await store.put_alert(alert("al-done", state=AlertState.RESOLVED, resolved_at=T0))
    clock.advance(RETENTION + timedelta(seconds=1))

    assert [r.target for r in await store.results()] == ["new"]
    assert await store.results("old") == []
    assert [r.target for r in await store.latest_results()] == ["new"]
    assert await store.metrics() == []
    assert await store.metrics("i-1", "cpu") == []
    assert await store.get_alert("al-done") is None
    assert await store.alerts() == []
    client, prefix = raw(store, moto_url)
    assert client.scan(TableName=prefix + "results")["Count"] == 5  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- conditional writes


async def test_a_stale_conditional_write_names_both_versions_and_leaves_the_feed_flowing(
    store: DynamoHotStore,
) -> None:
    stored = await store.put_alert(alert())
    await store.put_alert(stored)  # another writer: version 2
    with pytest.raises(StoreError, match="expected version 1, stored version is 2"):
        await store.put_alert(stored, expected_version=1)
    later = await store.put_results([result()])
    events = await store.changes(0)
    assert [e.seq for e in events] == [1, 2, *later]  # the failed write's seq is skipped
    assert later == [4]
    assert await store.latest_seq() == 4


async def test_concurrent_acknowledgements_let_exactly_one_writer_win(
    store: DynamoHotStore,
) -> None:
    import asyncio

    stored = await store.put_alert(alert())
    acked = Alert(**{**{f: getattr(stored, f) for f in Alert.__dataclass_fields__}})
    outcomes = await asyncio.gather(
        *(store.put_alert(acked, expected_version=1) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(o, Alert) for o in outcomes) == 1
    assert all(isinstance(o, (Alert, StoreError)) for o in outcomes)
    assert (await store.get_alert("al-1")).version == 2  # type: ignore[union-attr]


# --------------------------------------------------------------------------- holes in the feed


async def test_readers_wait_at_a_seq_still_being_written_then_skip_it_after_the_gap_timeout(
    store: DynamoHotStore, clock: ManualClock, moto_url: str
) -> None:
    first = await store.put_results([result("a")])
    client, prefix = raw(store, moto_url)
    client.update_item(  # type: ignore[attr-defined]  # a writer that took seq 2 and died
        TableName=prefix + "state",
        Key={"key": {"S": COUNTER_KEY}},
        UpdateExpression="ADD next_seq :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )
    after = await store.put_results([result("b")])
    assert after == [3]

    assert [e.seq for e in await store.changes(0)] == first
    assert await store.latest_seq() == 1
    clock.advance(timedelta(seconds=11))
    assert [e.seq for e in await store.changes(0)] == [1, 3]
    assert await store.latest_seq() == 3


async def test_state_keys_starting_with_hash_are_reserved_for_the_feed(
    store: DynamoHotStore,
) -> None:
    with pytest.raises(StoreError, match="reserved"):
        await store.set_state(COUNTER_KEY, 1)
    with pytest.raises(StoreError, match="reserved"):
        await store.get_state(COUNTER_KEY)


async def test_large_batches_span_several_transactions_with_contiguous_seqs(
    store: DynamoHotStore,
) -> None:
    seqs = await store.put_results([result(f"t{i}", timedelta(seconds=i)) for i in range(120)])
    assert seqs == list(range(1, 121))
    assert len(await store.latest_results()) == 120
    assert [e.seq for e in await store.changes(0, limit=1000)] == seqs


async def test_batch_writes_without_transactions_store_the_same_feed(
    dynamo_config: Configs, clock: ManualClock
) -> None:
    hot = DynamoHotStore(dynamo_config(transactions=False).options, clock=clock)
    await hot.open()
    try:
        seqs = await hot.put_results([result(f"t{i}") for i in range(30)])
        assert [e.seq for e in await hot.changes(0)] == seqs == list(range(1, 31))
        assert len(await hot.results()) == 30
    finally:
        await hot.close()


async def test_a_write_that_fails_fills_its_seqs_so_readers_never_wait_for_them(
    store: DynamoHotStore,
) -> None:
    first = await store.put_results([result("a")])
    too_big = CheckResult(
        "b", CheckKind.HTTP, T0, Health.UNHEALTHY, 1.0, False, reason="x" * 500_000
    )
    with pytest.raises(StoreError) as caught:
        await store.put_results([result("c"), too_big])  # over DynamoDB's 400 KB item limit
    assert not isinstance(caught.value, StoreUnavailable)
    assert await store.latest_seq() == first[-1]
    later = await store.put_results([result("d")])
    assert later == [first[-1] + 3]
    assert [e.data["target"] for e in await store.changes(0)] == ["a", "d"]  # no wait at 2-3
    assert await store.latest_seq() == later[0]


async def test_another_process_finds_the_feed_position_on_a_table_with_history(
    store: DynamoHotStore, clock: ManualClock
) -> None:
    written = await store.put_results([result(f"t{i}") for i in range(3)])
    clock.advance(timedelta(minutes=5))
    other = DynamoHotStore(store.options, clock=clock)
    await other.open()
    try:
        assert await other.latest_seq() == written[-1]
        assert await other.changes(written[-1]) == []
        more = await store.put_results([result("t9")])
        assert [e.seq for e in await other.changes(written[-1])] == more
        assert await other.latest_seq() == more[0]
    finally:
        await other.close()
