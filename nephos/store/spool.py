"""The spooling writer: nothing accepted is lost while the hot store is down.

:class:`SpoolingWriter` writes straight to the store while it is up. When a write fails with
:class:`~nephos.errors.StoreUnavailable`, the items go to the on-disk :class:`Spool`
(``spool_file.py``), and so does every later write until the spool is empty again, so that the
store receives items in the order they were accepted. A background task replays the spool with
exponential backoff on the injected clock; ``start()`` also replays what a crash left behind.

Exactly once. The spool advances only after the store commits. Between a commit and the
spool's advance (a crash, or a store call that failed ambiguously) the outcome is unknown, so
the spool first marks the batch *in doubt* (fsynced) and only then tries the store. A replay
of an in-doubt batch first reads the store and writes only the records it does not find, by
content: a check result or metric point equal in every field, an instance equal in every
field, an alert stored with ``version + 1`` and otherwise equal. Two results equal in every
field, timestamp to the microsecond included, are one result. This needs no id in the model
and also works for stores whose batch writes are not atomic (DynamoDB batches).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nephos.clock import Clock, SystemClock
from nephos.errors import StoreError, StoreUnavailable
from nephos.model import (
    Alert,
    CheckResult,
    EventKind,
    Instance,
    MetricPoint,
    from_dict,
    to_dict,
)
from nephos.store.base import HotStore
from nephos.store.spool_file import Spool, SpoolFull, SpoolRecord

if TYPE_CHECKING:
    from nephos.config.types import HotStoreConfig

__all__ = ["Spool", "SpoolFull", "SpoolRecord", "SpoolingWriter", "spool_dir_for"]

log = logging.getLogger(__name__)

_TYPES: dict[EventKind, type[Any]] = {
    EventKind.CHECK: CheckResult,
    EventKind.METRIC: MetricPoint,
    EventKind.ALERT: Alert,
    EventKind.INSTANCE: Instance,
}
_LOOKUP_LIMIT = 1_000_000  # reads that check an in-doubt batch must not cut it off


def _canonical(kind: EventKind, data: dict[str, Any]) -> str:
    # Decoding first makes ints and floats, lists and tuples compare as the store returns them.
    return json.dumps(to_dict(from_dict(_TYPES[kind], data)), sort_keys=True)


def spool_dir_for(cfg: HotStoreConfig) -> Path:
    """The spool directory of a hot store config: ``spool_dir``, else ``<path>.spool``."""
    if cfg.spool_dir:
        return Path(cfg.spool_dir).expanduser()
    return Path(cfg.path).expanduser().with_name(Path(cfg.path).name + ".spool")


class SpoolingWriter:
    """Writes to a hot store, spooling to disk while it is unavailable.

    Args:
        store: an opened hot store.
        spool_dir: the spool's directory (created when missing).
        max_bytes: the spool's byte cap; writes beyond it raise :class:`SpoolFull`.
        clock: the clock that times retries.
        batch_size: records per store call during replay.
        initial_backoff: seconds before the first retry; doubled up to ``max_backoff``.

    Raises:
        StoreUnavailable: the spool directory cannot be opened.
    """

    def __init__(
        self,
        store: HotStore,
        spool_dir: str | Path,
        *,
        max_bytes: int,
        clock: Clock | None = None,
        batch_size: int = 1000,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.store = store
        self.spool = Spool(spool_dir, max_bytes=max_bytes)
        self._clock: Clock = clock or SystemClock()
        self._batch_size = batch_size
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._lock = asyncio.Lock()
        self._drained = asyncio.Event()
        self._retry: asyncio.Task[None] | None = None
        if self.spool.pending() == 0:
            self._drained.set()

    @classmethod
    def from_config(
        cls, store: HotStore, cfg: HotStoreConfig, *, clock: Clock | None = None
    ) -> SpoolingWriter:
        """The writer that ``storage.hot`` describes: its spool directory and byte cap.

        Raises:
            StoreUnavailable: the spool directory cannot be opened.
        """
        return cls(store, spool_dir_for(cfg), max_bytes=cfg.spool_max_bytes, clock=clock)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Replay what an earlier run left in the spool; keep retrying in the background.

        Raises:
            StoreError: the store failed in a way other than being unavailable.
        """
        if self.spool.pending():
            log.info(
                "spool %s: %d item(s) left from an earlier run",
                self.spool.directory,
                self.spool.pending(),
            )
            try:
                await self.flush()
            except StoreUnavailable as exc:
                log.warning("hot store still unavailable (%s); retrying in the background", exc)
                self._kick()

    async def close(self) -> None:
        """Stop the background retry; spooled items stay on disk for the next start."""
        task, self._retry = self._retry, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ writing

    def pending(self) -> int:
        """How many items are spooled and not yet in the store."""
        return self.spool.pending()

    @property
    def refused(self) -> int:
        """How many items were refused because the spool was full."""
        return self.spool.refused

    async def write_results(self, results: Sequence[CheckResult]) -> bool:
        """Write check results; see :meth:`write`.

        Raises:
            SpoolFull: the store is down and the spool cannot take them.
            StoreError: the store refused them for a reason other than being unavailable.
        """
        return await self.write(EventKind.CHECK, results)

    async def write_metrics(self, points: Sequence[MetricPoint]) -> bool:
        """Write metric points; see :meth:`write`.

        Raises:
            SpoolFull: the store is down and the spool cannot take them.
            StoreError: the store refused them for a reason other than being unavailable.
        """
        return await self.write(EventKind.METRIC, points)

    async def write_instances(self, instances: Sequence[Instance]) -> bool:
        """Write instances; see :meth:`write`.

        Raises:
            SpoolFull: the store is down and the spool cannot take them.
            StoreError: the store refused them for a reason other than being unavailable.
        """
        return await self.write(EventKind.INSTANCE, instances)

    async def write_alert(self, alert: Alert) -> bool:
        """Write an alert unconditionally (it is stored with ``version + 1``); see :meth:`write`.

        Raises:
            SpoolFull: the store is down and the spool cannot take it.
            StoreError: the store refused it for a reason other than being unavailable.
        """
        return await self.write(EventKind.ALERT, [alert])

    async def write(self, kind: EventKind, items: Sequence[Any]) -> bool:
        """Write ``items`` of ``kind`` to the store now, or spool them behind earlier ones.

        Returns True when the items are committed to the store, False when they are spooled.

        Raises:
            SpoolFull: the store is down and the spool cannot take them (nothing was kept).
            StoreError: the store refused them for a reason other than being unavailable.
        """
        if not items:
            return True
        async with self._lock:
            if self.spool.pending() == 0:
                try:
                    await self._put(kind, items)
                    return True
                except StoreUnavailable as exc:
                    log.warning("hot store unavailable, spooling: %s", exc)
                    in_doubt = True
            else:
                in_doubt = False
            payload = [to_dict(item) for item in items]
            await asyncio.to_thread(self.spool.append, kind.value, payload, in_doubt=in_doubt)
            self._drained.clear()
        self._kick()
        return False

    async def _put(self, kind: EventKind, items: Sequence[Any]) -> None:
        if kind is EventKind.CHECK:
            await self.store.put_results(items)
        elif kind is EventKind.METRIC:
            await self.store.put_metrics(items)
        elif kind is EventKind.INSTANCE:
            await self.store.put_instances(items)
        else:
            for alert in items:
                await self.store.put_alert(alert)

    # ------------------------------------------------------------------ replay

    async def flush(self) -> None:
        """Replay the whole spool into the store now.

        Raises:
            StoreUnavailable: the store is still unavailable (the rest stays spooled).
            StoreError: reading the store to check an in-doubt batch failed otherwise.
        """
        while await self._replay_batch():
            pass

    async def wait_drained(self) -> None:
        """Wait until the spool is empty (the background retry emptied it)."""
        await self._drained.wait()

    def _kick(self) -> None:
        if self._retry is None or self._retry.done():
            self._retry = asyncio.get_running_loop().create_task(self._retry_loop())

    async def _retry_loop(self) -> None:
        delay = self._initial_backoff
        while True:
            try:
                await self.flush()
                return
            except StoreUnavailable as exc:
                log.info("hot store still unavailable (%s); next try in %.1fs", exc, delay)
            except Exception:
                # Retrying is the only way to keep what is spooled; say loudly why it failed.
                log.exception("spool replay failed; next try in %.1fs", delay)
            await self._clock.sleep(delay)
            delay = min(delay * 2, self._max_backoff)

    async def _replay_batch(self) -> bool:
        """Replay the head run of the spool; False when the spool is empty.

        Raises:
            StoreUnavailable: the store is unavailable; nothing was advanced.
        """
        async with self._lock:
            records = await asyncio.to_thread(self.spool.peek, self._batch_size)
            if not records:
                self._drained.set()
                return False
            kind = EventKind(records[0].kind)
            last = records[-1].serial
            if records[0].serial <= self.spool.in_doubt:
                todo = await self._missing(kind, records)
                if len(todo) < len(records):
                    log.info(
                        "spool: %d in-doubt item(s) were already stored", len(records) - len(todo)
                    )
            else:
                await asyncio.to_thread(self.spool.mark_in_doubt, last)
                todo = records
            try:
                await self._put(kind, [from_dict(_TYPES[kind], r.data) for r in todo])
            except StoreUnavailable:
                raise
            except StoreError as exc:
                # Not an outage: retrying would block everything behind these forever.
                log.error("hot store refused %d spooled item(s), set aside: %s", len(todo), exc)
                await asyncio.to_thread(self.spool.reject, todo, str(exc))
            await asyncio.to_thread(self.spool.advance, last)
            if self.spool.pending() == 0:
                self._drained.set()
            return True

    async def _missing(self, kind: EventKind, records: Sequence[SpoolRecord]) -> list[SpoolRecord]:
        """The in-doubt records that the store does not hold."""
        if kind is EventKind.ALERT:
            absent = []
            for record in records:
                alert = from_dict(Alert, record.data)
                current = await self.store.get_alert(alert.id)
                expected = dataclasses.replace(alert, version=alert.version + 1)
                if current is None or to_dict(current) != to_dict(expected):
                    absent.append(record)
            return absent
        stored = Counter(await self._stored_near(kind, records))
        out = []
        for record in records:
            key = _canonical(kind, record.data)
            if stored[key] > 0:
                stored[key] -= 1
            else:
                out.append(record)
        return out

    async def _stored_near(self, kind: EventKind, records: Sequence[SpoolRecord]) -> list[str]:
        """Canonical forms of what the store holds where ``records`` would be."""
        if kind is EventKind.INSTANCE:
            return [_canonical(kind, to_dict(i)) for i in await self.store.instances()]
        groups: dict[tuple[str, ...], datetime] = {}
        for record in records:
            item = from_dict(_TYPES[kind], record.data)
            key: tuple[str, ...] = (
                (item.target,) if kind is EventKind.CHECK else (item.instance, item.metric)
            )
            groups[key] = min(groups.get(key, item.ts), item.ts)
        found: list[str] = []
        for key, since in groups.items():
            if kind is EventKind.CHECK:
                rows: Sequence[Any] = await self.store.results(
                    key[0], since=since, limit=_LOOKUP_LIMIT
                )
            else:
                rows = await self.store.metrics(key[0], key[1], since=since, limit=_LOOKUP_LIMIT)
            found.extend(_canonical(kind, to_dict(row)) for row in rows)
        return found
