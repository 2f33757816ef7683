"""The DynamoDB hot store's change feed: seq allocation, event items, gap-aware reads, purge.

Seqs come from one counter item in the state table (``UpdateItem ADD``, a block per batch,
so a batch's seqs are contiguous). Events live in the events table under
``bucket = seq // BUCKET_SIZE`` and sort key ``seq``, so a read after N is a Query.

Unlike SQLite, writers do not commit in seq order: a writer may hold seqs 5..7 while another
has already committed 8..9. A reader that moved past 9 would never see 5..7, so readers stop
before any *hole* that may still be filled. A hole is *settled* (skipped) when the event
after it was stamped more than ``gap_timeout`` ago (writers stamp after allocating, so its
writer has been gone that long), when it lies below the purge floor, or when it is at or
below the frontier this process already settled. Writers that fail fill their seqs with
``void`` events, so a failed write costs readers nothing. All methods block (boto3): the
store calls them in its threads.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from nephos.model import Event, EventKind
from nephos.store.dynamodb_client import DynamoOptions, error_code
from nephos.store.sqlite_schema import from_us, to_us

__all__ = ["BUCKET_SIZE", "COUNTER_KEY", "VOID", "ChangeFeed", "FeedItem"]

log = logging.getLogger(__name__)

BUCKET_SIZE = 1000
"""Seqs per events-table partition; fixed for the life of a table."""
COUNTER_KEY = "#feed"
"""The state-table key of the counter item (state keys starting with ``#`` are reserved)."""
VOID = "void"
"""The kind of a filler event for a seq whose write failed; readers skip it."""
_MAX_EMPTY_BUCKETS = 2  # a backward walk that meets this many empty buckets stops


class FeedItem:
    """One events-table item as read: seq, kind, commit time and (when projected) data."""

    __slots__ = ("data", "kind", "seq", "ts_us")

    def __init__(self, raw: dict[str, Any]) -> None:
        self.seq = int(raw["seq"]["N"])
        self.kind = raw["kind"]["S"]
        self.ts_us = int(raw["ts_us"]["N"])
        self.data: str | None = raw["data"]["S"] if "data" in raw else None

    def event(self) -> Event:
        """The item as an Event (only for items read with their data, and not void)."""
        assert self.data is not None
        return Event(self.seq, EventKind(self.kind), from_us(self.ts_us), json.loads(self.data))


class ChangeFeed:
    """The feed's reads and writes over one client.

    Args:
        client: a boto3 ``dynamodb`` client.
        options: the store's options (table names, ``gap_timeout``).
    """

    def __init__(self, client: Any, options: DynamoOptions) -> None:
        self._client = client
        self._events = options.table("events")
        self._state = options.table("state")
        self._gap_us = int(options.gap_timeout * 1_000_000)
        self._lock = threading.Lock()
        self._frontier: int | None = None  # every seq <= this is settled
        self._last_real = 0  # the highest non-void seq <= the frontier

    # ------------------------------------------------------------------ writes

    def allocate(self, count: int) -> int:
        """Reserve ``count`` consecutive seqs; the first of them."""
        answer = self._client.update_item(
            TableName=self._state,
            Key={"key": {"S": COUNTER_KEY}},
            UpdateExpression="ADD next_seq :n",
            ExpressionAttributeValues={":n": {"N": str(count)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["next_seq"]["N"]) - count + 1

    def event_put(self, seq: int, kind: str, ts_us: int, payload: str, expires_at: int) -> Any:
        """The TransactWriteItems ``Put`` of one event."""
        return {
            "Put": {
                "TableName": self._events,
                "Item": {
                    "bucket": {"N": str(seq // BUCKET_SIZE)},
                    "seq": {"N": str(seq)},
                    "kind": {"S": kind},
                    "ts_us": {"N": str(ts_us)},
                    "data": {"S": payload},
                    "expires_at": {"N": str(expires_at)},
                },
            }
        }

    def fill_voids(self, seqs: list[int], ts_us: int, expires_at: int) -> None:
        """Write ``void`` events for seqs whose write failed, best effort.

        Each put is conditional: a write that failed ambiguously (a timeout) may have landed,
        and its event must not be overwritten.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        for seq in seqs:
            put = self.event_put(seq, VOID, ts_us, "null", expires_at)["Put"]
            try:
                self._client.put_item(**put, ConditionExpression="attribute_not_exists(seq)")
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    log.warning("hot store: seq %d left unfilled (%s)", seq, error_code(exc))
                    return  # the rest settle after gap_timeout
            except BotoCoreError as exc:
                log.warning("hot store: seq %d left unfilled (%s)", seq, type(exc).__name__)
                return

    # ------------------------------------------------------------------ reads

    def counter(self) -> tuple[int, int, int]:
        """The highest seq allocated, the purge floor, and the highest seq purged."""
        item = self._client.get_item(
            TableName=self._state, Key={"key": {"S": COUNTER_KEY}}, ConsistentRead=True
        ).get("Item", {})

        def number(name: str) -> int:
            return int(item[name]["N"]) if name in item else 0

        return number("next_seq"), max(1, number("floor_seq")), number("purged_high")

    def _items(
        self, first: int, last: int, *, descending: bool = False, data: bool = True
    ) -> Iterator[FeedItem]:
        """Items with ``first <= seq <= last`` in seq order, read lazily bucket by bucket."""
        if first > last:
            return
        buckets = range(first // BUCKET_SIZE, last // BUCKET_SIZE + 1)
        empty = 0
        for bucket in reversed(buckets) if descending else buckets:
            query: dict[str, Any] = {
                "TableName": self._events,
                "KeyConditionExpression": "#b = :b AND #s BETWEEN :lo AND :hi",
                "ExpressionAttributeNames": {"#b": "bucket", "#s": "seq", "#k": "kind"},
                "ExpressionAttributeValues": {
                    ":b": {"N": str(bucket)},
                    ":lo": {"N": str(first)},
                    ":hi": {"N": str(last)},
                },
                "ConsistentRead": True,
                "ScanIndexForward": not descending,
                "ProjectionExpression": "#s, #k, ts_us" + (", #d" if data else ""),
            }
            if data:
                query["ExpressionAttributeNames"]["#d"] = "data"
            found = False
            while True:
                page = self._client.query(**query)
                for raw in page.get("Items", []):
                    found = True
                    yield FeedItem(raw)
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            empty = 0 if found else empty + 1
            if descending and empty >= _MAX_EMPTY_BUCKETS:
                return  # whatever lies further down was deleted long ago (TTL)

    def changes(self, after: int, limit: int, now: datetime) -> list[Event]:
        """Events after ``after`` in seq order, at most ``limit``, stopping before an
        unsettled hole."""
        top, floor, _ = self.counter()
        if after >= top or limit <= 0:
            return []
        settled = max(floor - 1, self._frontier or 0)
        out: list[Event] = []
        expected = max(after + 1, floor)
        for item in self._items(expected, top):
            if self._blocked(item, expected, settled, to_us(now)):
                break
            expected = item.seq + 1
            if item.kind != VOID:
                out.append(item.event())
                if len(out) >= limit:
                    break
        return out

    def _blocked(self, item: FeedItem, expected: int, settled: int, now_us: int) -> bool:
        """Whether a hole before ``item`` may still be filled by a writer in flight."""
        unsettled_hole = item.seq > expected and item.seq - 1 > settled
        return unsettled_hole and item.ts_us > now_us - self._gap_us

    def latest_seq(self, now: datetime) -> int:
        """The highest non-void seq below which nothing can still appear, or 0."""
        now_us = to_us(now)
        top, floor, purged_high = self.counter()
        with self._lock:
            frontier, last_real = self._frontier, self._last_real
        if frontier is None:
            frontier, last_real = self._initial_frontier(top, floor, now_us)
        expected = frontier + 1
        settled = max(frontier, floor - 1)
        for item in self._items(max(expected, floor), top, data=False):
            if self._blocked(item, expected, settled, now_us):
                break
            expected = item.seq + 1
            if item.kind != VOID:
                last_real = item.seq
        with self._lock:
            if self._frontier is None or expected - 1 > self._frontier:
                self._frontier, self._last_real = expected - 1, last_real
            return max(self._last_real, purged_high)

    def _initial_frontier(self, top: int, floor: int, now_us: int) -> tuple[int, int]:
        """A settled seq to start from: the newest event stamped before ``gap_timeout``
        (every hole below it is settled), and the newest non-void seq at or below it."""
        frontier: int | None = None
        for item in self._items(floor, top, descending=True, data=False):
            if frontier is None and item.ts_us <= now_us - self._gap_us:
                frontier = item.seq
            if frontier is not None and item.kind != VOID:
                return frontier, item.seq
        return (floor - 1 if frontier is None else frontier), 0

    # ------------------------------------------------------------------ retention

    def purge(self, before: datetime, protect_from_seq: int | None) -> tuple[int, int, int | None]:
        """Delete events stamped before ``before`` (keeping those after ``protect_from_seq``).

        Returns:
            The events deleted, the events kept because they were protected, and the new
            floor (None when unchanged). Voids are deleted but not counted.
        """
        top, floor, purged_high = self.counter()
        cutoff = to_us(before)
        stale: list[FeedItem] = []
        kept = 0
        new_floor: int | None = None
        for item in self._items(floor, top, data=False):
            if item.ts_us >= cutoff + self._gap_us:
                break  # seq order follows stamp order to within gap_timeout: all later are newer
            if item.ts_us >= cutoff or (
                protect_from_seq is not None and item.seq > protect_from_seq
            ):
                if new_floor is None:
                    new_floor = item.seq
                kept += item.ts_us < cutoff and item.kind != VOID
                continue
            stale.append(item)
        self._delete([item.seq for item in stale])
        if not stale:
            return 0, kept, None
        deleted_high = max(item.seq for item in stale)
        floor_now = min(new_floor or deleted_high + 1, deleted_high + 1)
        real = [item.seq for item in stale if item.kind != VOID]
        self._raise_floor(floor_now, max([purged_high, *real]))
        return len(real), kept, floor_now

    def _delete(self, seqs: list[int]) -> None:
        for start in range(0, len(seqs), 25):
            requests: dict[str, Any] = {
                self._events: [
                    {
                        "DeleteRequest": {
                            "Key": {
                                "bucket": {"N": str(seq // BUCKET_SIZE)},
                                "seq": {"N": str(seq)},
                            }
                        }
                    }
                    for seq in seqs[start : start + 25]
                ]
            }
            while requests:
                answer = self._client.batch_write_item(RequestItems=requests)
                requests = answer.get("UnprocessedItems") or {}

    def _raise_floor(self, floor: int, purged_high: int) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.update_item(
                TableName=self._state,
                Key={"key": {"S": COUNTER_KEY}},
                UpdateExpression="SET floor_seq = :f, purged_high = :h",
                ConditionExpression="attribute_not_exists(floor_seq) OR floor_seq < :f",
                ExpressionAttributeValues={
                    ":f": {"N": str(floor)},
                    ":h": {"N": str(purged_high)},
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise  # a concurrent purge raised it further: fine
