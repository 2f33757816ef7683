"""What happens to a judged result: batched, stored, seen by the alert book, announced.

A batch is written every ~100 ms (or at 500 results) through the spooling writer. Once it is
committed the hub is woken, the alert state of targets first seen in the batch is read in one
go, the alert book sees each result and the observer gets the events; then the alert book's
changed state is written in one transaction. Judging lives in ``runner.py``, pacing in
``batch.py``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from nephos.clock import Clock
from nephos.config.types import HotStoreConfig
from nephos.errors import NephosError, StoreError
from nephos.model import CheckResult, Target
from nephos.sentinel.alerts import AlertBook
from nephos.sentinel.batch import ResultBatcher
from nephos.sentinel.events import AlertEvent, CheckEvent, EventSink, SentinelEvent
from nephos.store.base import HotStore
from nephos.store.spool import SpoolingWriter, spool_dir_for

if TYPE_CHECKING:
    from nephos.stream.hub import Hub

__all__ = ["ResultRecorder"]

log = logging.getLogger(__name__)


class ResultRecorder:
    """Stores judged results in batches, then feeds the alert book and the observer.

    Args:
        store: the opened hot store.
        hot: the hot store's config (where the spool lives, how big it may grow).
        clock: paces batches and spool retries.
        book: the alert book; replaced on reload through :attr:`book`.
        on_event: receives every stored result and every alert change.
        batch_interval: seconds a result may wait for company before its batch is written.
        batch_size: a batch is written at once when it holds this many results.
    """

    def __init__(
        self,
        store: HotStore,
        hot: HotStoreConfig,
        *,
        clock: Clock,
        book: AlertBook,
        on_event: EventSink | None = None,
        batch_interval: float = 0.1,
        batch_size: int = 500,
    ) -> None:
        self.book = book
        """The alert book that sees every stored result."""
        self.hub: Hub | None = None
        """A hub to wake after each commit, while one is served."""
        self.on_commit: Callable[[], None] | None = None
        """Called after each commit too (the analytics read the feed and the ETL loads)."""
        self.tracked: Collection[str] = ()
        """The target names whose newest result :attr:`latest` keeps (the configured ones)."""
        self.latest: dict[str, CheckResult] = {}
        """The newest stored result of every tracked target."""
        self.spooled = 0
        """Results that went to the on-disk spool because the store was down."""
        self._on_event = on_event
        self.writer = SpoolingWriter(
            store, spool_dir_for(hot), max_bytes=hot.spool_max_bytes, clock=clock
        )
        self.batcher = ResultBatcher(
            self._write_batch,
            self._after_write,
            clock=clock,
            interval=batch_interval,
            size=batch_size,
            done=self.flush_alert_state,
        )

    def add(self, target: Target, result: CheckResult) -> None:
        """Queue one judged result for the next batch."""
        self.batcher.add(target, result)

    async def flush(self) -> None:
        """Write everything batched and hand it on, then the alert book's changed state."""
        await self.batcher.flush()
        await self.flush_alert_state()

    async def close(self) -> None:
        """Flush; what the store cannot take stays in the spool for the next start."""
        await self.flush()
        with contextlib.suppress(StoreError):
            await self.writer.flush()
        await self.writer.close()

    async def flush_alert_state(self) -> None:
        """Write the alert book's changed per-target state; a failure keeps it for next time."""
        try:
            await self.book.flush_state()
        except NephosError as exc:
            log.warning("alert book: state not stored yet, kept for the next batch: %s", exc)

    def emit(self, event: SentinelEvent) -> None:
        """Hand ``event`` to the observer; an observer that raises is logged, not fatal."""
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            # An output bug must not stop checking.
            log.exception("event observer raised")

    async def _write_batch(self, results: list[CheckResult]) -> None:
        try:
            if not await self.writer.write_results(results):
                self.spooled += len(results)
                return
        except NephosError as exc:
            # The spool is full or the store refused the batch: these results are lost, and
            # the operator hears about it once per batch rather than once per result.
            log.error("%d result(s) could not be stored: %s", len(results), exc)
            return
        self._committed()
        try:
            # One read for the alert state of every target first seen in this batch.
            await self.book.prefetch(r.target for r in results)
        except NephosError as exc:
            log.warning("alert book: state not prefetched (read per target instead): %s", exc)

    async def _after_write(self, target: Target, result: CheckResult) -> None:
        previous = self.latest.get(result.target)
        if result.target in self.tracked:
            self.latest[result.target] = result
        self.emit(CheckEvent(result, previous.health if previous is not None else None))
        try:
            alerts = await self.book.observe(target, result)
        except NephosError as exc:
            log.error("alert book: %s: %s", result.target, exc)
            return
        for alert in alerts:
            self.emit(AlertEvent(alert))
        if alerts:
            self._committed()

    def _committed(self) -> None:
        """Something reached the store: wake the hub's feed rather than wait for its poll."""
        if self.hub is not None:
            self.hub.notify()
        if self.on_commit is not None:
            self.on_commit()
