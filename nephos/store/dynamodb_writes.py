"""The DynamoDB hot store's write path: records with their events, committed in chunks.

A *record* is one stored item and its change-feed event: a function from the record's seq
to its ``Put`` action, and the event's JSON payload. :class:`FeedWriter` allocates the seqs,
stamps them, and writes each chunk of records with their events in one ``TransactWriteItems``
(or one ``BatchWriteItem`` with ``transactions: false``). Blocking (boto3): the store calls it
in its threads.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from nephos.clock import Clock
from nephos.model import Alert, AlertState, EventKind, Instance, to_dict
from nephos.store.dynamodb_client import DynamoOptions, error_code
from nephos.store.dynamodb_feed import ChangeFeed
from nephos.store.dynamodb_tables import (
    alert_item,
    instance_item,
    latest_item,
    metric_item,
    result_item,
)
from nephos.store.sqlite_schema import dumps, to_us

__all__ = ["FeedWriter", "Record"]

log = logging.getLogger(__name__)

Record = tuple[Callable[[int], Any], str]
"""(the item's ``Put`` action for a seq, the event's JSON payload)."""

_RECORDS_PER_TRANSACTION = 50  # each record is an item and its event: 100 actions at most
_RECORDS_PER_BATCH = 12  # BatchWriteItem takes 25 requests


def _put(table: str, item: dict[str, Any]) -> Callable[[int], Any]:
    return lambda _seq: {"Put": {"TableName": table, "Item": item}}


class FeedWriter:
    """Writes records and their events.

    Args:
        client: a boto3 ``dynamodb`` client.
        options: the store's options.
        feed: the change feed that allocates seqs and fills voids.
        clock: stamps events and expiries.
        retention_s: the TTL of results, metrics and resolved alerts; events live twice as
            long.
    """

    def __init__(
        self,
        client: Any,
        options: DynamoOptions,
        feed: ChangeFeed,
        clock: Clock,
        retention_s: int,
    ) -> None:
        self._client = client
        self._options = options
        self._feed = feed
        self._clock = clock
        self._retention_s = retention_s

    def expiry(self, ts_us: int) -> int:
        """``expires_at`` (epoch seconds) of an item stamped ``ts_us``."""
        return ts_us // 1_000_000 + self._retention_s

    # ------------------------------------------------------------------ records

    def result_records(self, rows: Sequence[tuple[str, int, str, str]]) -> list[Record]:
        """Records of ``encode_results`` rows (target, ts_us, health, payload)."""
        table = self._options.table("results")

        def record(target: str, ts_us: int, payload: str) -> Record:
            expires = self.expiry(ts_us)
            return (
                lambda seq: {
                    "Put": {
                        "TableName": table,
                        "Item": result_item(target, ts_us, seq, payload, expires),
                    }
                },
                payload,
            )

        return [record(target, ts_us, payload) for target, ts_us, _, payload in rows]

    def metric_records(self, rows: Sequence[tuple[Any, ...]], payloads: list[str]) -> list[Record]:
        """Records of ``encode_metrics`` rows and payloads."""
        table = self._options.table("results")

        def record(row: tuple[Any, ...], payload: str) -> Record:
            instance, metric, _, _, ts_us, _ = row
            expires = self.expiry(ts_us)
            return (
                lambda seq: {
                    "Put": {
                        "TableName": table,
                        "Item": metric_item(instance, metric, ts_us, seq, payload, expires),
                    }
                },
                payload,
            )

        return [record(row, p) for row, p in zip(rows, payloads, strict=True)]

    def instance_records(self, instances: Sequence[Instance]) -> list[Record]:
        """Records of instances (upserted by provider and id)."""
        table = self._options.table("instances")
        records = []
        for inst in instances:
            payload = dumps(to_dict(inst))
            records.append((_put(table, instance_item(inst.provider, inst.id, payload)), payload))
        return records

    def alert_record(self, stored: Alert, expected_version: int | None) -> Record:
        """The record of an alert, its put conditional on ``expected_version`` when given."""
        payload = dumps(to_dict(stored))
        ended_us = to_us(stored.resolved_at or stored.updated_at)
        item = alert_item(
            alert_id=stored.id,
            dedup_key=stored.dedup_key,
            state=stored.state.value,
            started_us=to_us(stored.started_at),
            ended_us=ended_us,
            version=stored.version,
            payload=payload,
            expires_at=self.expiry(ended_us) if stored.state is AlertState.RESOLVED else None,
        )
        put: dict[str, Any] = {"TableName": self._options.table("alerts"), "Item": item}
        if expected_version is not None:
            put["ConditionExpression"] = "attribute_not_exists(id) OR version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return (lambda _seq: {"Put": put}, payload)

    # ------------------------------------------------------------------ writing

    def commit(
        self, kind: EventKind, records: Sequence[Record], *, conditional: bool = False
    ) -> list[int]:
        """Allocate seqs, stamp, and write each record's item with its event; the seqs.

        Seqs of the chunks that were not written are filled with voids before the error is
        raised. A ``conditional`` write always goes through a transaction.
        """
        feed = self._feed
        first = feed.allocate(len(records))
        seqs = list(range(first, first + len(records)))
        ts_us = to_us(self._clock.now())  # after allocating: see dynamodb_feed's docstring
        expires = ts_us // 1_000_000 + 2 * self._retention_s
        per_call = (
            _RECORDS_PER_TRANSACTION
            if conditional or self._options.transactions
            else _RECORDS_PER_BATCH
        )
        for start in range(0, len(records), per_call):
            actions: list[Any] = []
            for i in range(start, min(start + per_call, len(records))):
                action, payload = records[i]
                actions.append(action(seqs[i]))
                actions.append(feed.event_put(seqs[i], kind.value, ts_us, payload, expires))
            try:
                self._write(actions, conditional)
            except Exception:
                feed.fill_voids(seqs[start:], ts_us, expires)
                raise
        return seqs

    def _write(self, actions: list[Any], conditional: bool) -> None:
        """Write Put actions in one transaction, or (``transactions: false``) in one
        BatchWriteItem: half the write units, but an item may land without its event."""
        if conditional or self._options.transactions:
            self._client.transact_write_items(
                TransactItems=actions, ClientRequestToken=uuid.uuid4().hex
            )
            return
        requests: dict[str, list[Any]] = {}
        for action in actions:
            put = action["Put"]
            requests.setdefault(put["TableName"], []).append({"PutRequest": {"Item": put["Item"]}})
        while requests:
            answer = self._client.batch_write_item(RequestItems=requests)
            requests = answer.get("UnprocessedItems") or {}

    def put_latest(self, rows: Sequence[tuple[str, int, str, str]]) -> None:
        """Make each target's newest row in ``rows`` its latest result, unless a newer one is
        stored already (a late result never replaces a newer one). Best effort: a failure is
        logged, not raised."""
        newest: dict[str, tuple[int, str]] = {}
        for target, ts_us, _, payload in rows:
            if target not in newest or ts_us >= newest[target][0]:
                newest[target] = (ts_us, payload)
        table = self._options.table("results")
        for target, (ts_us, payload) in newest.items():
            item = latest_item(target, ts_us, payload, self.expiry(ts_us))
            try:
                self._client.put_item(
                    TableName=table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk) OR ts_us <= :t",
                    ExpressionAttributeValues={":t": item["ts_us"]},
                )
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    # The results and their events are committed: failing now would make the
                    # caller write them twice. The copy catches up with the next result.
                    log.warning(
                        "hot store: latest result of %r not updated (%s)", target, error_code(exc)
                    )
