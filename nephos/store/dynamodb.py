"""The cloud hot store: DynamoDB tables with TTL, and a change feed in an events table.

Every write allocates its seqs from the feed's counter, stamps them, and commits each item
with its event in one ``TransactWriteItems`` (50 items and their 50 events per transaction;
a larger batch is several; ``transactions: false`` uses BatchWriteItem instead); the write
path is in ``dynamodb_writes.py``. Reads ignore items whose ``expires_at`` has passed,
because DynamoDB's TTL deletes lazily (up to days later). The table layout is in
``dynamodb_tables.py``, the feed in ``dynamodb_feed.py``; docs/dynamodb.md explains both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from nephos.clock import Clock, SystemClock
from nephos.errors import StoreError, StoreUnavailable
from nephos.model import (
    Alert,
    AlertState,
    CheckResult,
    Event,
    EventKind,
    Instance,
    MetricPoint,
    from_dict,
)
from nephos.store.base import HotStore
from nephos.store.dynamodb_client import (
    DynamoOptions,
    make_client,
    map_dynamo_error,
)
from nephos.store.dynamodb_feed import ChangeFeed
from nephos.store.dynamodb_reads import TableReader
from nephos.store.dynamodb_tables import check_tables, create_tables
from nephos.store.dynamodb_writes import FeedWriter
from nephos.store.sqlite_schema import dumps, encode_metrics, encode_results, to_us

__all__ = ["DynamoHotStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_OPEN = (AlertState.FIRING, AlertState.ACKNOWLEDGED)


class DynamoHotStore(HotStore):
    """The ``dynamodb`` hot store backend.

    Args:
        options: ``storage.hot.options`` (see :class:`DynamoOptions`), or parsed options.
        clock: stamps events and decides what has expired; the system clock by default.
        retention: how long results, metrics, resolved alerts and events live (the TTL);
            events are kept twice as long, so that a lagging ETL can still read them.
        workers: threads that run boto3 calls.

    Raises:
        ConfigError: the options are invalid.
    """

    name: ClassVar[str] = "dynamodb"

    def __init__(
        self,
        options: Mapping[str, Any] | DynamoOptions,
        *,
        clock: Clock | None = None,
        retention: timedelta = timedelta(days=7),
        workers: int = 8,
    ) -> None:
        self.options = (
            options if isinstance(options, DynamoOptions) else DynamoOptions.parse(options)
        )
        self._clock: Clock = clock or SystemClock()
        self._retention_s = int(retention.total_seconds())
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._client: Any = None
        self._feed: ChangeFeed | None = None
        self._reader: TableReader | None = None
        self._writer: FeedWriter | None = None

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Build the client, create missing tables when ``create_tables`` is set, and check
        that every table exists.

        Raises:
            StoreUnavailable: DynamoDB cannot be reached or is throttling.
            StoreError: a table is missing, or the credentials or profile are wrong.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="nephos-ddb")
        await self._call("open", self._open)

    def _open(self) -> None:
        if self._client is None:
            self._client = make_client("dynamodb", self.options)
        if self.options.create_tables:
            create_tables(self._client, self.options)
        check_tables(self._client, self.options)
        self._feed = ChangeFeed(self._client, self.options)
        self._reader = TableReader(self._client, self.options)
        self._writer = FeedWriter(
            self._client, self.options, self._feed, self._clock, self._retention_s
        )

    async def close(self) -> None:
        """Stop the store's threads and close its connections; idempotent."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        client, self._client = self._client, None
        self._feed = self._reader = self._writer = None
        if client is not None:
            client.close()

    async def _call(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        if self._executor is None:
            raise StoreUnavailable(f"{self.options.where} is not open")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except (BotoCoreError, ClientError) as exc:
            raise map_dynamo_error(exc, self.options.where, action) from exc

    def _now_s(self) -> int:
        return to_us(self._clock.now()) // 1_000_000

    @property
    def _f(self) -> ChangeFeed:
        if self._feed is None:
            raise StoreUnavailable(f"{self.options.where} is not open")
        return self._feed

    @property
    def _w(self) -> FeedWriter:
        if self._writer is None:
            raise StoreUnavailable(f"{self.options.where} is not open")
        return self._writer

    @property
    def _r(self) -> TableReader:
        if self._reader is None:
            raise StoreUnavailable(f"{self.options.where} is not open")
        return self._reader

    # ------------------------------------------------------------------ writes

    async def put_results(self, results: Sequence[CheckResult]) -> list[int]:
        """Store check results with one ``check`` event each; refresh each target's latest.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        if not results:
            return []
        rows = encode_results(results)

        def body() -> list[int]:
            seqs = self._w.commit(EventKind.CHECK, self._w.result_records(rows))
            self._w.put_latest(rows)
            return seqs

        return await self._call("store results", body)

    async def put_alert(self, alert: Alert, *, expected_version: int | None = None) -> Alert:
        """Upsert an alert with ``version + 1`` and an ``alert`` event, in one transaction.

        With ``expected_version`` the put is conditional (a missing alert is version 0).

        Raises:
            StoreError: the stored version differs from ``expected_version``, or the write
                failed.
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
        """
        stored = dataclasses.replace(alert, version=alert.version + 1)

        def body() -> Alert:
            record = self._w.alert_record(stored, expected_version)
            try:
                self._w.commit(EventKind.ALERT, [record], conditional=True)
            except Exception as exc:
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    current = reasons[0].get("Item", {}).get("version", {}).get("N", "?")
                    raise StoreError(
                        f"alert {alert.id} was changed concurrently: expected version "
                        f"{expected_version}, stored version is {current}"
                    ) from exc
                raise
            return stored

        return await self._call("store alert", body)

    async def put_instances(self, instances: Sequence[Instance]) -> list[int]:
        """Upsert instances by (provider, id) with one ``instance`` event each.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        if not instances:
            return []
        records = self._w.instance_records(instances)
        return await self._call("store instances", self._w.commit, EventKind.INSTANCE, records)

    async def put_metrics(self, points: Sequence[MetricPoint]) -> list[int]:
        """Store metric points with one ``metric`` event each.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        if not points:
            return []
        rows, payloads = encode_metrics(points)
        records = self._w.metric_records(rows, payloads)
        return await self._call("store metrics", self._w.commit, EventKind.METRIC, records)

    # ------------------------------------------------------------------ reads

    async def latest_results(self) -> list[CheckResult]:
        """The newest unexpired result of every target, ordered by target.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        items = await self._call("read results", self._r.latest, self._now_s())
        return [from_dict(CheckResult, json.loads(i["data"]["S"])) for i in items]

    async def results(
        self, target: str | None = None, *, since: datetime | None = None, limit: int = 1000
    ) -> list[CheckResult]:
        """The newest ``limit`` unexpired results with ``ts >= since``, newest first.

        One target is a Query; every target is a Scan (see docs/dynamodb.md).

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        since_us = to_us(since) if since is not None else None
        items = await self._call(
            "read results", self._r.series, "result", target, since_us, limit, self._now_s()
        )
        return [from_dict(CheckResult, json.loads(i["data"]["S"])) for i in items]

    async def get_alert(self, alert_id: str) -> Alert | None:
        """One alert by id, or None (also when it has expired).

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        item = await self._call("read alerts", self._r.alert, alert_id, self._now_s())
        return from_dict(Alert, json.loads(item["data"]["S"])) if item else None

    async def alerts(
        self, *, states: Sequence[AlertState] | None = None, limit: int = 1000
    ) -> list[Alert]:
        """Unexpired alerts, most recently started first, optionally only in ``states``.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        wanted = None if states is None else [AlertState(s).value for s in states]
        if wanted == []:
            return []
        items = await self._call("read alerts", self._r.alerts, wanted, None, self._now_s())
        return [from_dict(Alert, json.loads(i["data"]["S"])) for i in items[:limit]]

    async def open_alert(self, dedup_key: str) -> Alert | None:
        """The newest firing or acknowledged alert with ``dedup_key``, or None.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        states = [s.value for s in _OPEN]
        items = await self._call("read alerts", self._r.alerts, states, dedup_key, self._now_s())
        return from_dict(Alert, json.loads(items[0]["data"]["S"])) if items else None

    async def instances(self) -> list[Instance]:
        """Every known instance, ordered by provider and id.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        items = await self._call("read instances", self._r.instances)
        return [from_dict(Instance, json.loads(i["data"]["S"])) for i in items]

    async def metrics(
        self,
        instance: str | None = None,
        metric: str | None = None,
        *,
        since: datetime | None = None,
        limit: int = 10000,
    ) -> list[MetricPoint]:
        """The newest ``limit`` unexpired points with ``ts >= since``, oldest first.

        One series is a Query; anything wider is a Scan (see docs/dynamodb.md).

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        since_us = to_us(since) if since is not None else None
        items = await self._call(
            "read metrics",
            self._r.series,
            "metric",
            (instance, metric),
            since_us,
            limit,
            self._now_s(),
        )
        return [from_dict(MetricPoint, json.loads(i["data"]["S"])) for i in reversed(items)]

    # ------------------------------------------------------------------ change feed

    async def changes(self, after_seq: int, limit: int = 1000) -> list[Event]:
        """Events after ``after_seq`` in seq order, at most ``limit``; never past a seq that a
        writer may still be committing.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        return await self._call(
            "read the change feed", self._f.changes, after_seq, limit, self._clock.now()
        )

    async def latest_seq(self) -> int:
        """The highest committed seq with nothing unsettled below it (purged or not), or 0.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        return await self._call("read the change feed", self._f.latest_seq, self._clock.now())

    # ------------------------------------------------------------------ state

    async def get_state(self, key: str) -> Any | None:
        """The JSON value stored under ``key``, or None.

        Raises:
            StoreError: ``key`` starts with ``#`` (reserved), or the read failed.
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
        """
        found = await self.get_states([key])
        return found.get(key)

    async def set_state(self, key: str, value: Any) -> None:
        """Store the JSON value ``value`` under ``key``.

        Raises:
            StoreError: ``value`` is not JSON, ``key`` is reserved, or the write failed.
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
        """
        await self.set_states({key: value})

    async def get_states(self, keys: Sequence[str]) -> dict[str, Any]:
        """The JSON values stored under ``keys``, read 100 keys per request.

        Raises:
            StoreError: a key is reserved, or the read failed.
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
        """
        unique = [_state_key(k) for k in dict.fromkeys(keys)]
        raw = await self._call("read state", self._r.states, unique)
        return {key: json.loads(text) for key, text in raw.items()}

    async def set_states(self, values: Mapping[str, Any]) -> None:
        """Store several JSON values, 100 keys per transaction.

        Raises:
            StoreError: a value is not JSON, a key is reserved, or the write failed.
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
        """
        rows: list[tuple[str, str]] = []
        for key, value in values.items():
            try:
                rows.append((_state_key(key), dumps(value)))
            except (TypeError, ValueError) as exc:
                raise StoreError(f"state {key!r}: value is not JSON: {exc}") from exc
        if rows:
            await self._call("store state", self._r.put_states, rows)

    # ------------------------------------------------------------------ retention

    async def purge(self, before: datetime, *, protect_from_seq: int | None = None) -> int:
        """Delete results, metrics, resolved alerts and events older than ``before``.

        TTL deletes the same items on its own; purge makes it happen now, and moves the
        change feed's floor so that readers skip what is gone. Events after
        ``protect_from_seq`` are kept. Returns the number of items deleted.

        Raises:
            StoreUnavailable: DynamoDB is throttling or cannot be reached.
            StoreError: any other failure.
        """
        cutoff = to_us(before)

        def body() -> int:
            deleted = self._r.purge_rows(cutoff, AlertState.RESOLVED.value)
            events, kept, _ = self._f.purge(before, protect_from_seq)
            if kept:
                log.warning(
                    "hot store %s: kept %d expired events after seq %d (not yet loaded)",
                    self.options.where,
                    kept,
                    protect_from_seq,
                )
            return deleted + events

        return await self._call("purge", body)


def _state_key(key: str) -> str:
    if key.startswith("#"):
        raise StoreError(f"state key {key!r}: keys starting with '#' are reserved")
    return key
