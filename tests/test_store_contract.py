"""The HotStore contract: every backend passes these (add a backend to BACKENDS to enroll it)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from nephos.clock import ManualClock
from nephos.config.types import HotStoreConfig
from nephos.errors import StoreError, StoreUnavailable
from nephos.model import (
    Alert,
    AlertSource,
    AlertState,
    CheckKind,
    CheckResult,
    ConditionResult,
    DnsInfo,
    EventKind,
    Health,
    Instance,
    InstanceState,
    MetricPoint,
    Severity,
    TlsInfo,
    from_dict,
    to_dict,
)
from nephos.store import open_hot_store
from nephos.store.base import HotStore

pytest_plugins = ["tests.dynamo_support"]  # moto_url, aws_env, dynamo_config

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _sqlite_config(request: pytest.FixtureRequest, tmp_path: Path) -> HotStoreConfig:
    return HotStoreConfig(backend="sqlite", path=str(tmp_path / "hot.db"))


def _dynamodb_config(request: pytest.FixtureRequest, tmp_path: Path) -> HotStoreConfig:
    return request.getfixturevalue("dynamo_config")()  # type: ignore[no-any-return]


# backend name -> config for a fresh store
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], HotStoreConfig]] = {
    "sqlite": _sqlite_config,
    "dynamodb": _dynamodb_config,  # on a moto server
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture(params=sorted(BACKENDS))
async def hot_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[HotStore]:
    store = open_hot_store(BACKENDS[request.param](request, tmp_path), clock=clock)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def result(target: str = "api", at: float = 0.0, **kw: object) -> CheckResult:
    fields: dict[str, object] = {
        "target": target,
        "kind": CheckKind.HTTP,
        "ts": T0 + timedelta(seconds=at),
        "health": Health.HEALTHY,
        "latency_ms": 12.5,
        "success": True,
    }
    fields.update(kw)
    return CheckResult(**fields)  # type: ignore[arg-type]


def rich_result() -> CheckResult:
    return result(
        "bank",
        7.25,
        kind=CheckKind.HTTP,
        health=Health.DEGRADED,
        success=False,
        provider="aws",
        region="us-east-1",
        status_code=503,
        ip="127.0.0.1",
        error=None,
        reason="[STATUS] was 503, expected == 200 — «unicode» ✕",
        conditions=(
            ConditionResult("[STATUS] == 200", False, "503", "[STATUS] was 503, expected == 200"),
            ConditionResult("[RESPONSE_TIME] < 1000", True, "12"),
        ),
        timings={"dns": 1.5, "connect": 2.0, "tls": 3.25, "ttfb": 5.0, "total": 12.5},
        tls=TlsInfo(
            leaf_not_after=T0 + timedelta(days=30),
            leaf_not_before=T0 - timedelta(days=60, microseconds=123),
            chain_earliest_not_after=T0 + timedelta(days=300),
            subject="CN=bank.test",
            issuer="CN=nephos test CA",
            sans=("bank.test", "*.bank.test"),
            hostname_match=True,
            chain_valid=False,
            chain_error="self-signed certificate in chain",
            version="TLSv1.3",
            cipher="TLS_AES_128_GCM_SHA256",
        ),
        dns=DnsInfo("A", "NOERROR", ("10.0.0.1", "10.0.0.2"), "127.0.0.1:5353"),
        sentinel_offline=False,
        flapping=True,
    )


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


def instance(instance_id: str = "i-1", **kw: object) -> Instance:
    fields: dict[str, object] = {
        "provider": "aws",
        "id": instance_id,
        "name": f"web-{instance_id}",
        "state": InstanceState.RUNNING,
    }
    fields.update(kw)
    return Instance(**fields)  # type: ignore[arg-type]


def point(at: float, value: float, inst: str = "i-1", metric: str = "cpu") -> MetricPoint:
    return MetricPoint(inst, metric, "%", T0 + timedelta(seconds=at), value, provider="aws")


# --------------------------------------------------------------------------- change feed


async def test_empty_store_has_latest_seq_zero_and_no_changes(hot_store: HotStore) -> None:
    assert await hot_store.latest_seq() == 0
    assert await hot_store.changes(0) == []


async def test_put_results_appends_one_check_event_per_result_carrying_its_dict(
    hot_store: HotStore, clock: ManualClock
) -> None:
    batch = [result("api", 0), result("web", 1)]
    seqs = await hot_store.put_results(batch)
    assert len(seqs) == 2 and seqs[0] < seqs[1]
    events = await hot_store.changes(0)
    assert [e.seq for e in events] == seqs
    assert [e.kind for e in events] == [EventKind.CHECK, EventKind.CHECK]
    assert [e.data for e in events] == [to_dict(r) for r in batch]
    assert all(e.ts == clock.now() for e in events)
    assert await hot_store.latest_seq() == seqs[-1]


async def test_seq_is_strictly_increasing_across_kinds(hot_store: HotStore) -> None:
    seqs = await hot_store.put_results([result()])
    seqs += await hot_store.put_metrics([point(0, 1.0), point(1, 2.0)])
    await hot_store.put_alert(alert())
    seqs.append(await hot_store.latest_seq())
    seqs += await hot_store.put_instances([instance()])
    seqs += await hot_store.put_results([result(at=5)])
    assert seqs == sorted(set(seqs))
    events = await hot_store.changes(0)
    assert [e.seq for e in events] == seqs
    assert [e.kind for e in events] == [
        EventKind.CHECK,
        EventKind.METRIC,
        EventKind.METRIC,
        EventKind.ALERT,
        EventKind.INSTANCE,
        EventKind.CHECK,
    ]


async def test_changes_pages_through_the_feed_without_gap_or_duplicate(
    hot_store: HotStore,
) -> None:
    written = await hot_store.put_results([result(f"t{i}", i) for i in range(25)])
    seen: list[int] = []
    after = 0
    while page := await hot_store.changes(after, limit=7):
        assert len(page) <= 7
        seen += [e.seq for e in page]
        after = page[-1].seq
    assert seen == written
    assert await hot_store.changes(written[-1]) == []


async def test_events_of_every_kind_decode_back_to_the_written_values(
    hot_store: HotStore,
) -> None:
    r, p, i = rich_result(), point(3, 42.5), instance(tags={"env": "prod"})
    await hot_store.put_results([r])
    await hot_store.put_metrics([p])
    stored_alert = await hot_store.put_alert(alert())
    await hot_store.put_instances([i])
    by_kind = {e.kind: e.data for e in await hot_store.changes(0)}
    assert from_dict(CheckResult, by_kind[EventKind.CHECK]) == r
    assert from_dict(MetricPoint, by_kind[EventKind.METRIC]) == p
    assert by_kind[EventKind.METRIC] == to_dict(p)
    assert from_dict(Alert, by_kind[EventKind.ALERT]) == stored_alert
    assert from_dict(Instance, by_kind[EventKind.INSTANCE]) == i


async def test_concurrent_put_results_get_unique_increasing_seqs(hot_store: HotStore) -> None:
    batches = await asyncio.gather(
        *(hot_store.put_results([result(f"t{n}", k) for k in range(3)]) for n in range(40))
    )
    every = [s for batch in batches for s in batch]
    assert len(every) == len(set(every)) == 120
    assert all(b == list(range(b[0], b[0] + 3)) for b in batches)  # a batch is contiguous
    assert [e.seq for e in await hot_store.changes(0, limit=500)] == sorted(every)


async def test_seqs_are_never_reused_after_purging_the_newest_events(
    hot_store: HotStore, clock: ManualClock
) -> None:
    first = await hot_store.put_results([result(at=0), result(at=1)])
    clock.advance(timedelta(days=10))
    await hot_store.purge(clock.now())
    assert await hot_store.changes(0) == []
    again = await hot_store.put_results([result(at=2)])
    assert again[0] > first[-1]
    assert await hot_store.latest_seq() == again[0]


# --------------------------------------------------------------------------- results


async def test_check_result_with_tls_dns_and_conditions_round_trips(hot_store: HotStore) -> None:
    r = rich_result()
    await hot_store.put_results([r])
    assert await hot_store.results("bank") == [r]
    assert await hot_store.latest_results() == [r]


async def test_latest_results_holds_the_newest_result_per_target(hot_store: HotStore) -> None:
    await hot_store.put_results([result("api", 10), result("web", 5)])
    await hot_store.put_results([result("api", 3, health=Health.UNHEALTHY)])  # late, older
    await hot_store.put_results([result("web", 6, health=Health.DEGRADED)])
    latest = {r.target: r for r in await hot_store.latest_results()}
    assert latest["api"].ts == T0 + timedelta(seconds=10)
    assert latest["web"].health is Health.DEGRADED


async def test_results_filter_by_target_and_since_newest_first_with_limit(
    hot_store: HotStore,
) -> None:
    await hot_store.put_results([result("api", s) for s in range(10)] + [result("web", 4.5)])
    api = await hot_store.results("api")
    assert [r.ts for r in api] == [T0 + timedelta(seconds=s) for s in range(9, -1, -1)]
    since = await hot_store.results("api", since=T0 + timedelta(seconds=7))
    assert [r.ts.second for r in since] == [9, 8, 7]
    assert [r.ts.second for r in await hot_store.results("api", limit=2)] == [9, 8]
    assert len(await hot_store.results()) == 11
    assert await hot_store.results("nothing") == []


# --------------------------------------------------------------------------- alerts


async def test_put_alert_stores_the_next_version_and_appends_an_alert_event(
    hot_store: HotStore,
) -> None:
    a = alert(facts={"observed": 503, "baseline": [200, 200]}, value="503")
    stored = await hot_store.put_alert(a)
    assert stored.version == 1
    assert await hot_store.get_alert("al-1") == stored
    updated = await hot_store.put_alert(
        stored.__class__(**{**to_dict_fields(stored), "state": AlertState.ACKNOWLEDGED})
    )
    assert updated.version == 2
    assert (await hot_store.get_alert("al-1")) == updated
    events = await hot_store.changes(0)
    assert [e.data["version"] for e in events] == [1, 2]


def to_dict_fields(a: Alert) -> dict[str, object]:
    return {name: getattr(a, name) for name in Alert.__dataclass_fields__}


async def test_conditional_alert_write_succeeds_on_the_expected_version(
    hot_store: HotStore,
) -> None:
    created = await hot_store.put_alert(alert(), expected_version=0)
    assert created.version == 1
    again = await hot_store.put_alert(created, expected_version=1)
    assert again.version == 2


async def test_conditional_alert_write_with_a_stale_version_fails_and_writes_nothing(
    hot_store: HotStore,
) -> None:
    stored = await hot_store.put_alert(alert())
    await hot_store.put_alert(stored)  # a concurrent writer moves it to version 2
    before = await hot_store.latest_seq()
    with pytest.raises(StoreError) as caught:
        await hot_store.put_alert(stored, expected_version=1)
    assert not isinstance(caught.value, StoreUnavailable)
    assert (await hot_store.get_alert("al-1")).version == 2  # type: ignore[union-attr]
    assert await hot_store.latest_seq() == before


async def test_conditional_create_fails_when_the_alert_already_exists(
    hot_store: HotStore,
) -> None:
    await hot_store.put_alert(alert())
    with pytest.raises(StoreError):
        await hot_store.put_alert(alert(), expected_version=0)


async def test_alerts_filter_by_state_newest_first_and_open_alert_finds_only_open_ones(
    hot_store: HotStore,
) -> None:
    await hot_store.put_alert(alert("al-old", state=AlertState.RESOLVED, resolved_at=T0))
    await hot_store.put_alert(
        alert("al-ack", started_at=T0 + timedelta(minutes=1), state=AlertState.ACKNOWLEDGED)
    )
    await hot_store.put_alert(
        alert("al-other", dedup_key="web:status", started_at=T0 + timedelta(minutes=2))
    )
    assert [a.id for a in await hot_store.alerts()] == ["al-other", "al-ack", "al-old"]
    assert [a.id for a in await hot_store.alerts(limit=1)] == ["al-other"]
    resolved = await hot_store.alerts(states=[AlertState.RESOLVED])
    assert [a.id for a in resolved] == ["al-old"]
    assert (await hot_store.open_alert("api:status")).id == "al-ack"  # type: ignore[union-attr]
    assert await hot_store.open_alert("db:status") is None
    assert await hot_store.get_alert("al-missing") is None


# --------------------------------------------------------------------------- instances, metrics


async def test_instances_are_upserted_by_provider_and_id(hot_store: HotStore) -> None:
    full = instance(
        "i-1",
        public_ips=("203.0.113.5",),
        tags={"env": "prod", "team": "edge"},
        created_at=T0 - timedelta(days=3),
        vcpus=2,
        memory_mb=4096,
    )
    seqs = await hot_store.put_instances([full, instance("i-2"), instance("i-1", provider="vultr")])
    assert len(seqs) == 3
    await hot_store.put_instances([instance("i-2", state=InstanceState.STOPPED)])
    stored = {(i.provider, i.id): i for i in await hot_store.instances()}
    assert len(stored) == 3
    assert stored[("aws", "i-1")] == full
    assert stored[("aws", "i-2")].state is InstanceState.STOPPED


async def test_metrics_filter_and_return_the_newest_points_oldest_first(
    hot_store: HotStore,
) -> None:
    points = [point(s, float(s)) for s in range(10)]
    points += [point(0, 99.0, inst="i-2"), point(0, 5.0, metric="mem")]
    seqs = await hot_store.put_metrics(points)
    assert len(seqs) == 12
    cpu = await hot_store.metrics("i-1", "cpu")
    assert cpu == points[:10]
    assert [p.value for p in await hot_store.metrics("i-1", "cpu", limit=3)] == [7.0, 8.0, 9.0]
    recent = await hot_store.metrics("i-1", "cpu", since=T0 + timedelta(seconds=8))
    assert [p.value for p in recent] == [8.0, 9.0]
    assert len(await hot_store.metrics(instance="i-1")) == 11
    assert len(await hot_store.metrics(metric="cpu")) == 11
    assert len(await hot_store.metrics()) == 12


# --------------------------------------------------------------------------- state


async def test_state_stores_json_values_by_key(hot_store: HotStore) -> None:
    assert await hot_store.get_state("etl.checkpoint") is None
    await hot_store.set_state("etl.checkpoint", {"seq": 41, "tags": ["a", "b"], "ok": True})
    await hot_store.set_state("etl.checkpoint", {"seq": 42})
    await hot_store.set_state("count", 3)
    assert await hot_store.get_state("etl.checkpoint") == {"seq": 42}
    assert await hot_store.get_state("count") == 3


async def test_set_state_rejects_a_value_that_is_not_json(hot_store: HotStore) -> None:
    with pytest.raises(StoreError):
        await hot_store.set_state("bad", {1, 2})


async def test_many_states_are_written_and_read_together(hot_store: HotStore) -> None:
    await hot_store.set_state("k0", "old")
    values = {f"k{i}": {"n": i} for i in range(1200)}  # more keys than one query reads
    await hot_store.set_states(values)
    await hot_store.set_states({})
    found = await hot_store.get_states([*values, "missing", "k0"])
    assert found == values


async def test_set_states_rejects_a_value_that_is_not_json(hot_store: HotStore) -> None:
    with pytest.raises(StoreError):
        await hot_store.set_states({"fine": 1, "bad": {1, 2}})


# --------------------------------------------------------------------------- retention


async def test_purge_removes_old_rows_and_keeps_open_alerts(
    hot_store: HotStore, clock: ManualClock
) -> None:
    await hot_store.put_results([result("api", 0), result("web", 0)])
    await hot_store.put_metrics([point(0, 1.0)])
    await hot_store.put_alert(alert("al-res", state=AlertState.RESOLVED, resolved_at=T0))
    await hot_store.put_alert(alert("al-open"))
    clock.advance(timedelta(days=8))
    await hot_store.put_results([result("api", 8 * 86400)])
    await hot_store.put_metrics([point(8 * 86400, 2.0)])

    deleted = await hot_store.purge(T0 + timedelta(days=7))

    assert deleted == 2 + 1 + 1 + 5  # results, metrics, resolved alert, events before day 7
    assert [r.target for r in await hot_store.results()] == ["api"]
    assert [r.target for r in await hot_store.latest_results()] == ["api"]
    assert [p.value for p in await hot_store.metrics()] == [2.0]
    assert [a.id for a in await hot_store.alerts()] == ["al-open"]
    assert [e.kind for e in await hot_store.changes(0)] == [EventKind.CHECK, EventKind.METRIC]


async def test_purge_keeps_events_after_protect_from_seq_and_warns(
    hot_store: HotStore, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    seqs = await hot_store.put_results([result(f"t{i}", i) for i in range(5)])
    clock.advance(timedelta(days=8))
    loaded = seqs[1]  # the ETL has loaded up to here

    with caplog.at_level(logging.WARNING):
        await hot_store.purge(T0 + timedelta(days=7), protect_from_seq=loaded)

    assert [e.seq for e in await hot_store.changes(0)] == seqs[2:]
    assert any("kept 3 expired events" in m for m in caplog.messages)
    await hot_store.purge(T0 + timedelta(days=7), protect_from_seq=seqs[-1])
    assert await hot_store.changes(0) == []


async def test_times_in_other_zones_and_with_microseconds_round_trip_exactly(
    hot_store: HotStore,
) -> None:
    plus_two = timezone(timedelta(hours=2))
    when = datetime(2026, 1, 5, 14, 0, 0, 123456, tzinfo=plus_two)
    p = MetricPoint("i-1", "cpu", "%", when, 0.1)
    r = result("api", ts=when)
    await hot_store.put_metrics([p])
    await hot_store.put_results([r])
    events = await hot_store.changes(0)
    assert events[0].data == to_dict(p)
    assert events[0].data["ts"] == "2026-01-05T12:00:00.123456Z"
    assert (await hot_store.metrics())[0].ts == when
    assert (await hot_store.results(since=when))[0] == r
    assert await hot_store.results(since=when + timedelta(microseconds=1)) == []


async def test_empty_batches_append_no_events(hot_store: HotStore) -> None:
    assert await hot_store.put_results([]) == []
    assert await hot_store.put_metrics([]) == []
    assert await hot_store.put_instances([]) == []
    assert await hot_store.latest_seq() == 0
