"""Tail the events table's DynamoDB Stream: shards, iterators, positions, and hub wake-ups.

:class:`DynamoStreamTailer` describes the stream, keeps one iterator per readable shard,
reads a parent shard to its end before its children, renews expired iterators after the last
sequence number it read, and yields the :class:`~nephos.model.Event` in each NEW_IMAGE. Its
per-shard positions persist in a small JSON file (:class:`ShardPositions`), so a restart
resumes where it stopped. :func:`wake_on_stream` (and :func:`stream_wakeups`, its context
manager) turns the stream into hub wake-ups: the hub still reads
:meth:`DynamoHotStore.changes` (ordered, gap-aware), the stream only tells it when.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nephos.clock import Clock, SystemClock
from nephos.errors import StoreError
from nephos.model import Event
from nephos.store.dynamodb_client import DynamoOptions, error_code, make_client, map_dynamo_error
from nephos.store.dynamodb_feed import VOID, FeedItem

if TYPE_CHECKING:
    from nephos.store.base import HotStore

__all__ = ["DynamoStreamTailer", "ShardPositions", "stream_wakeups", "wake_on_stream"]

log = logging.getLogger(__name__)

# get_records failures that a fresh iterator cures: AWS's expiry (15 minutes), an iterator the
# server no longer knows (ValidationException on AWS; moto answers HTTP 500).
_RENEW_CODES = frozenset({"ExpiredIteratorException", "ValidationException", "500"})
_THROTTLED_CODES = frozenset({"LimitExceededException", "ThrottlingException"})
_MAX_BACKOFF = 5.0


class ShardPositions:
    """The last sequence number read per shard, and the shards read to their end.

    Args:
        path: a JSON file to load from and save to; None keeps positions in memory only.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else None
        self.stream_arn: str | None = None
        self.sequences: dict[str, str] = {}
        self.finished: set[str] = set()
        if self.path is not None and self.path.exists():
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
                self.stream_arn = saved.get("stream_arn")
                self.sequences = {str(k): str(v) for k, v in saved.get("sequences", {}).items()}
                self.finished = {str(s) for s in saved.get("finished", [])}
            except (OSError, ValueError, AttributeError) as exc:
                raise StoreError(f"stream positions {self.path}: unreadable: {exc}") from exc

    def adopt(self, stream_arn: str) -> None:
        """Use these positions for ``stream_arn``; positions of another stream (a table that
        was re-created) are dropped."""
        if self.stream_arn != stream_arn:
            if self.stream_arn is not None:
                log.warning("stream positions were for %s; starting afresh", self.stream_arn)
            self.stream_arn, self.sequences, self.finished = stream_arn, {}, set()

    def save(self) -> None:
        """Write the file atomically (a temporary file, then a rename).

        Raises:
            StoreError: the file cannot be written.
        """
        if self.path is None:
            return
        body = {
            "stream_arn": self.stream_arn,
            "sequences": self.sequences,
            "finished": sorted(self.finished),
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(body), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            raise StoreError(f"stream positions {self.path}: cannot save: {exc}") from exc


@dataclass(slots=True)
class _Shard:
    parent: str | None
    closed: bool


class DynamoStreamTailer:
    """Reads the events table's stream.

    Args:
        options: the hot store's options (table prefix, region, endpoint, retries).
        clock: sleeps between idle rounds.
        poll_interval: seconds to wait after a round that found nothing.
        positions: where the per-shard positions live; in memory by default.
        start: ``LATEST`` (only what is written from now on) or ``TRIM_HORIZON`` (everything
            still in the stream, up to 24 hours), for shards without a saved position.
        client: a ``dynamodbstreams`` client; one is built from ``options`` by default.

    Raises:
        ValueError: ``start`` is neither ``LATEST`` nor ``TRIM_HORIZON``.
    """

    def __init__(
        self,
        options: DynamoOptions,
        *,
        clock: Clock | None = None,
        poll_interval: float = 0.25,
        positions: ShardPositions | None = None,
        start: str = "LATEST",
        client: Any | None = None,
    ) -> None:
        if start not in ("LATEST", "TRIM_HORIZON"):
            raise ValueError(f"start must be LATEST or TRIM_HORIZON, not {start!r}")
        self.options = options
        self.table = options.table("events")
        self.poll_interval = poll_interval
        self.positions = positions or ShardPositions()
        self._clock: Clock = clock or SystemClock()
        self._start = start
        self._client = client
        self._stream_arn: str | None = None
        self._shards: dict[str, _Shard] = {}
        self._iterators: dict[str, str] = {}
        self._fresh = True  # no round has run yet
        self._rediscover = True

    def close(self) -> None:
        """Close the stream client's connections; the tailer can poll again afterwards."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @property
    def shard_ids(self) -> tuple[str, ...]:
        """The shards being read now."""
        return tuple(self._iterators)

    async def poll(self) -> list[Event]:
        """One round: read every shard once; the events found, in seq order.

        Raises:
            StoreUnavailable: the stream is throttled or cannot be reached.
            StoreError: the table has no stream, or another failure.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(self._round)
        except (BotoCoreError, ClientError) as exc:
            raise map_dynamo_error(exc, self.options.where, "read the stream") from exc

    async def batches(self) -> AsyncGenerator[list[Event], None]:
        """Rounds that found events, forever; waits ``poll_interval`` after an empty round
        and backs off (up to 5 s) while the stream cannot be read."""
        failures = 0
        while True:
            try:
                events = await self.poll()
                failures = 0
            except StoreError as exc:
                failures += 1
                delay = min(_MAX_BACKOFF, self.poll_interval * 2**failures)
                log.warning("stream %s: %s (retrying in %.1fs)", self.table, exc, delay)
                await self._clock.sleep(delay)
                continue
            if events:
                yield events
            else:
                await self._clock.sleep(self.poll_interval)

    async def events(self) -> AsyncIterator[Event]:
        """Every event, forever (see :meth:`batches`)."""
        async for batch in self.batches():
            for event in batch:
                yield event

    # ------------------------------------------------------------------ blocking work

    def _streams(self) -> Any:
        if self._client is None:
            self._client = make_client("dynamodbstreams", self.options)
        return self._client

    def _discover(self) -> None:
        client = self._streams()
        if self._stream_arn is None:
            # DescribeTable, not ListStreams: it is granted per table, ListStreams only on "*".
            tables = make_client("dynamodb", self.options)
            try:
                table = tables.describe_table(TableName=self.table)
            finally:
                tables.close()
            arn = table["Table"].get("LatestStreamArn")
            if not arn or not table["Table"].get("StreamSpecification", {}).get("StreamEnabled"):
                raise StoreError(f"{self.options.where}: table {self.table} has no stream")
            self._stream_arn = str(arn)
            self.positions.adopt(self._stream_arn)
        shards: dict[str, _Shard] = {}
        request: dict[str, Any] = {"StreamArn": self._stream_arn}
        while True:
            description = client.describe_stream(**request)["StreamDescription"]
            for shard in description.get("Shards", []):
                closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
                shards[shard["ShardId"]] = _Shard(shard.get("ParentShardId"), closed)
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            request["ExclusiveStartShardId"] = last
        self._shards = shards
        # Shards gone from the stream (trimmed after 24 hours) need no memory.
        self.positions.finished &= set(shards)
        for gone in set(self.positions.sequences) - set(shards):
            del self.positions.sequences[gone]
        initial = self._fresh and not self.positions.sequences and not self.positions.finished
        for shard_id, shard in shards.items():
            if shard_id in self.positions.finished or shard_id in self._iterators:
                continue
            if shard_id in self.positions.sequences:
                self._open(shard_id, "AFTER_SEQUENCE_NUMBER")
            elif initial and self._start == "LATEST":
                if shard.closed:
                    self.positions.finished.add(shard_id)  # nothing new will come from it
                else:
                    self._open(shard_id, "LATEST")
            elif shard.parent is None or shard.parent not in shards:
                self._open(shard_id, "TRIM_HORIZON")
            elif shard.parent in self.positions.finished:
                self._open(shard_id, "TRIM_HORIZON")  # a child: read from its first record
            # else: its parent is still being read; the child waits (order within a key)
        self._rediscover = False

    def _open(self, shard_id: str, kind: str) -> None:
        request: dict[str, Any] = {
            "StreamArn": self._stream_arn,
            "ShardId": shard_id,
            "ShardIteratorType": kind,
        }
        if kind == "AFTER_SEQUENCE_NUMBER":
            request["SequenceNumber"] = self.positions.sequences[shard_id]
        self._iterators[shard_id] = self._streams().get_shard_iterator(**request)["ShardIterator"]

    def _renew(self, shard_id: str) -> None:
        """A fresh iterator after the last record read (or at the start position)."""
        if shard_id in self.positions.sequences:
            self._open(shard_id, "AFTER_SEQUENCE_NUMBER")
        else:
            self._open(shard_id, self._start)

    def _read(self, shard_id: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        client = self._streams()
        try:
            return dict(client.get_records(ShardIterator=self._iterators[shard_id], Limit=1000))
        except ClientError as exc:
            code = error_code(exc)
            if code == "TrimmedDataAccessException":
                log.warning("stream %s: shard %s was trimmed; reading on", self.table, shard_id)
                self.positions.sequences.pop(shard_id, None)
                self._open(shard_id, "TRIM_HORIZON")
            elif code in _RENEW_CODES:
                log.info("stream %s: renewing the iterator of %s (%s)", self.table, shard_id, code)
                self._renew(shard_id)
            else:
                raise
            return dict(client.get_records(ShardIterator=self._iterators[shard_id], Limit=1000))

    def _round(self) -> list[Event]:
        if self._rediscover or not self._iterators:
            self._discover()
        self._fresh = False
        events: list[Event] = []
        moved = False
        for shard_id in list(self._iterators):
            try:
                answer = self._read(shard_id)
            except Exception as exc:
                if error_code(exc) in _THROTTLED_CODES:
                    continue  # this shard waits for the next round
                raise
            records = answer.get("Records", [])
            for record in records:
                image = record.get("dynamodb", {}).get("NewImage")
                if image and "seq" in image and image.get("kind", {}).get("S") != VOID:
                    events.append(FeedItem(image).event())
            if records:
                self.positions.sequences[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                moved = True
            following = answer.get("NextShardIterator")
            if following:
                self._iterators[shard_id] = following
            else:  # the shard is closed and read to its end: its children come next
                del self._iterators[shard_id]
                self.positions.finished.add(shard_id)
                self._rediscover = moved = True
        if moved:
            self.positions.save()
        events.sort(key=lambda e: e.seq)
        return events


async def wake_on_stream(tailer: DynamoStreamTailer, notify: Callable[[], None]) -> None:
    """Call ``notify`` (e.g. :meth:`nephos.stream.hub.Hub.notify`) whenever the stream shows
    new events; runs until cancelled."""
    async for _ in tailer.batches():
        notify()


@contextlib.asynccontextmanager
async def stream_wakeups(
    store: HotStore,
    notify: Callable[[], None],
    *,
    poll_interval: float = 0.25,
    clock: Clock | None = None,
) -> AsyncIterator[DynamoStreamTailer | None]:
    """For the duration of the block, wake ``notify`` from the store's stream when ``store``
    is a DynamoDB hot store; with any other store, do nothing.

    Serving a hub: ``await stack.enter_async_context(stream_wakeups(store, hub.notify))``.
    The tailer starts at the stream's end (the hub reads everything older from the store).

    Raises:
        StoreError: the events table has no stream, or it cannot be read at the start.
    """
    from nephos.store.dynamodb import DynamoHotStore

    if not isinstance(store, DynamoHotStore):
        yield None
        return
    tailer = DynamoStreamTailer(store.options, clock=clock, poll_interval=poll_interval)
    await tailer.poll()  # positioned at LATEST before the block runs
    task = asyncio.create_task(wake_on_stream(tailer, notify), name="nephos-stream-wakeups")
    try:
        yield tailer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        tailer.close()
