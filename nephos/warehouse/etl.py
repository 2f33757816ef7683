"""The ETL: the hot store's change feed into the warehouse, exactly once.

:class:`Etl` reads events after its checkpoint, batches them by size and by age, loads each
batch with :meth:`Warehouse.load_events` (merged on ``seq``, so a reload changes nothing) and
advances the checkpoint only after the load has committed. A crash between the two reloads the
batch on restart: no gap, no duplicate. Unreachable backends are retried with a capped
exponential back-off on the injected clock (``etl_backoff.py``). Lag lives in ``etl_lag.py``,
metrics in ``etl_metrics.py``, hot-store retention in ``etl_retention.py``; docs/etl.md tells
the story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from nephos.clock import Clock
from nephos.errors import StoreError, UsageError, WarehouseError
from nephos.model import Event
from nephos.store.base import HotStore
from nephos.warehouse.base import Warehouse
from nephos.warehouse.etl_backoff import Outage
from nephos.warehouse.etl_lag import EtlLag, measure_lag, mirror_key, read_mirrored_checkpoint
from nephos.warehouse.etl_metrics import EtlMetrics

__all__ = ["CRASH_AFTER_LOAD_ENV", "Etl", "EtlReport"]

log = logging.getLogger(__name__)

CRASH_AFTER_LOAD_ENV = "NEPHOS_ETL_CRASH_AFTER_LOAD"
"""Fault injection, for the crash test only: with ``N`` (a positive integer) in this variable,
the process SIGKILLs itself right after its Nth load commits and before that batch's checkpoint
is written. Unset (the default), it does nothing."""


@dataclass(frozen=True, slots=True)
class EtlReport:
    """What :meth:`Etl.run_once` did.

    ``events`` counts events read and loaded, ``loaded`` those the warehouse did not have yet
    (fewer after a crash, when a batch is loaded twice), ``missing`` the seqs absent from the
    feed (purged before they were loaded).
    """

    events: int
    loaded: int
    batches: int
    missing: int
    lag: EtlLag

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {
            "events": self.events,
            "loaded": self.loaded,
            "batches": self.batches,
            "missing": self.missing,
            "lag": self.lag.to_dict(),
        }


class Etl:
    """Tails ``store``'s change feed into ``warehouse`` from a checkpoint, exactly once.

    The ETL opens the warehouse itself (both backends' ``open`` does nothing when already
    open), and after a failure closes and reopens it before the next attempt; the caller
    closes it when done. The store must be open. One ETL per ``name`` and warehouse at a time.

    Args:
        store: the hot store (open).
        warehouse: the warehouse, opened or not.
        clock: time for batch ages, polling, back-off and lag.
        batch_size: the most events per load; a full batch loads at once.
        max_batch_age: seconds the oldest pending event may wait for its batch to fill.
        name: the consumer name of the checkpoint (``Warehouse.get_checkpoint``).
        registry: a prometheus_client CollectorRegistry for the lag gauges; None for none.
        poll_interval: seconds between feed reads when no :meth:`notify` comes.
        backoff_initial: the first wait after a failed attempt, doubled per failure.
        backoff_max: the cap of that wait.

    Raises:
        UsageError: a size or interval is out of range.
    """

    def __init__(
        self,
        store: HotStore,
        warehouse: Warehouse,
        *,
        clock: Clock,
        batch_size: int = 5000,
        max_batch_age: float = 0.5,
        name: str = "etl",
        registry: Any | None = None,
        poll_interval: float = 0.2,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        if batch_size < 1:
            raise UsageError(f"ETL batch size must be at least 1, not {batch_size}")
        if max_batch_age < 0 or poll_interval <= 0 or not 0 < backoff_initial <= backoff_max:
            raise UsageError("ETL intervals must be positive (and back-off initial <= max)")
        self._store = store
        self._warehouse = warehouse
        self._clock = clock
        self.batch_size = batch_size
        self.max_batch_age = max_batch_age
        self.name = name
        self._poll = poll_interval
        self._metrics = EtlMetrics(registry, name) if registry is not None else None
        self._warehouse_outage = Outage("warehouse", clock, backoff_initial, backoff_max)
        self._store_outage = Outage("hot store", clock, backoff_initial, backoff_max)
        self._connected = False
        self._mirror_stale = False
        self._checkpoint: int | None = None
        self._read_seq = 0
        self._pending: list[Event] = []
        self._first_seen = 0.0  # monotonic time the oldest pending event was read
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._progress = asyncio.Event()  # replaced after each read and commit
        self._lag_at = float("-inf")
        self.last_lag: EtlLag | None = None
        """The lag measured last (None before the first measurement)."""
        self.totals = {"events": 0, "loaded": 0, "batches": 0, "missing": 0}
        """Running totals since construction, keyed like :class:`EtlReport`."""
        self._crash_after = _crash_after_from_env()
        self._loads = 0

    @property
    def checkpoint(self) -> int | None:
        """The last seq loaded and checkpointed, or None before it was read."""
        return self._checkpoint

    @property
    def pending(self) -> int:
        """Events read from the feed and waiting for their batch to load."""
        return len(self._pending)

    async def wait_checkpoint(self, seq: int) -> None:
        """Wait until everything up to ``seq`` is loaded and checkpointed (by :meth:`run`)."""
        while self._checkpoint is None or self._checkpoint < seq:
            await self._progress.wait()

    async def wait_read(self, seq: int) -> None:
        """Wait until the feed has been read up to ``seq`` (loaded or still pending)."""
        while self._checkpoint is None or self._read_seq < seq:
            await self._progress.wait()

    def _progressed(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    def notify(self) -> None:
        """Read the feed now: call after committing to the hot store, for the lowest lag."""
        self._wake.set()

    def stop(self) -> None:
        """Make :meth:`run` load what it holds (one attempt) and return."""
        self._stopping.set()
        self._wake.set()

    async def lag(self) -> EtlLag:
        """The lag now, from the hot store and the checkpoint (the mirrored one before start).

        Raises:
            StoreError: the hot store could not be read.
        """
        checkpoint = self._checkpoint
        if checkpoint is None:
            mirrored = await read_mirrored_checkpoint(self._store, self.name)
            checkpoint = mirrored[0] if mirrored else 0
        lag = await measure_lag(self._store, checkpoint, self._clock.now())
        self.last_lag = lag
        if self._metrics is not None:
            self._metrics.observe_lag(lag)
        return lag

    # ------------------------------------------------------------------ one drain

    async def run_once(self) -> EtlReport:
        """Load everything up to the hot store's current latest seq, then report.

        Batches are loaded back to back, without waiting for them to fill. No retry: a failure
        is raised, and the next call carries on from the last checkpoint.

        Raises:
            WarehouseError: the warehouse could not be reached or a load failed.
            StoreError: the hot store could not be read.
        """
        before = dict(self.totals)
        try:
            if self._checkpoint is None:
                await self._start()
            target = await self._store.latest_seq()
            while self._checkpoint is not None and self._checkpoint < target:
                await self._read()
                if not self._pending:
                    break  # the rest of the feed was purged
                await self._commit_batch()
        except WarehouseError:
            await self._disconnect()
            raise
        lag = await self.lag()
        done = {key: self.totals[key] - before[key] for key in self.totals}
        return EtlReport(
            events=done["events"],
            loaded=done["loaded"],
            batches=done["batches"],
            missing=done["missing"],
            lag=lag,
        )

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Tail the feed until :meth:`stop`, then load what is pending (one attempt).

        Nothing is raised for an unreachable warehouse or hot store: each failed attempt waits
        a doubling back-off (capped at ``backoff_max``) and tries again, from the checkpoint.
        """
        self._stopping.clear()
        while not self._stopping.is_set():
            delay, wakeable = await self._step()
            if delay > 0 or wakeable:
                await self._wait(delay, wakeable=wakeable)
        if self._pending and self._checkpoint is not None:
            try:
                await self._commit_batch()
            except (WarehouseError, StoreError) as exc:
                log.warning(
                    "ETL: stopping with %d events not loaded (%s); they load on the next start",
                    len(self._pending),
                    exc,
                )

    async def _step(self) -> tuple[float, bool]:
        """One turn: read, maybe load. How long to wait next, and whether notify may cut it."""
        loaded = False
        try:
            if self._checkpoint is None:
                await self._start()
            elif self._mirror_stale:
                await self._mirror()
            await self._read()
            if self._due():
                await self._commit_batch()
                loaded = True
        except WarehouseError as exc:
            await self._disconnect()
            self._up(False)
            return self._warehouse_outage.failed(exc, len(self._pending)), False
        except StoreError as exc:
            if self._metrics is not None:
                self._metrics.failures.inc()
            return self._store_outage.failed(exc, len(self._pending)), False
        finally:
            await self._refresh_lag()
        # Only a turn with no failure at all ends an outage: a store that can be read but not
        # written must not log "unreachable" and "reachable again" on every retry.
        self._store_outage.recovered()
        if self._connected:
            self._warehouse_outage.recovered()
            self._up(True)
        return (0.0, False) if loaded else (self._idle_wait(), True)

    def _due(self) -> bool:
        if not self._pending:
            return False
        return len(self._pending) >= self.batch_size or self._age() >= self.max_batch_age

    def _age(self) -> float:
        # The event's own commit time, or the time it was read when the writer's clock is
        # behind ours: a skewed clock must not hold a batch back forever.
        by_ts = (self._clock.now() - self._pending[0].ts).total_seconds()
        return max(by_ts, self._clock.monotonic() - self._first_seen)

    def _idle_wait(self) -> float:
        if not self._pending:
            return self._poll
        return max(0.0, min(self._poll, self.max_batch_age - self._age()))

    async def _wait(self, seconds: float, *, wakeable: bool) -> None:
        if wakeable and self._wake.is_set():
            self._wake.clear()
            return
        waiters = {
            asyncio.ensure_future(self._clock.sleep(seconds)),
            asyncio.ensure_future(self._stopping.wait()),
        }
        if wakeable:
            waiters.add(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            if wakeable:
                self._wake.clear()

    # ------------------------------------------------------------------ steps

    async def _connect(self) -> None:
        if not self._connected:
            await self._warehouse.open()
            self._connected = True

    async def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            with contextlib.suppress(WarehouseError):
                await self._warehouse.close()

    async def _start(self) -> None:
        """Read the checkpoint from the warehouse, and mirror it into the hot store."""
        await self._connect()
        checkpoint = await self._warehouse.get_checkpoint(self.name)
        latest = await self._store.latest_seq()
        if latest < checkpoint:
            log.error(
                "ETL: the hot store's latest seq %d is behind the warehouse checkpoint %d for "
                "%r: the hot store was replaced; nothing loads until it passes %d",
                latest,
                checkpoint,
                self.name,
                checkpoint,
            )
        self._checkpoint = self._read_seq = checkpoint
        self._pending = []
        log.info("ETL %r: starting after seq %d (hot store at %d)", self.name, checkpoint, latest)
        await self._mirror()
        self._progressed()

    async def _read(self) -> None:
        """Append the next events of the feed to the pending batch, up to the batch size."""
        room = self.batch_size - len(self._pending)
        if room <= 0:
            return
        events = await self._store.changes(self._read_seq, limit=room)
        if not events:
            return
        missing = events[-1].seq - self._read_seq - len(events)
        if missing > 0:
            self.totals["missing"] += missing
            if self._metrics is not None:
                self._metrics.missing.inc(missing)
            log.warning(
                "ETL: %d events between seq %d and %d left the hot store before they reached "
                "the warehouse (purged by retention?)",
                missing,
                self._read_seq,
                events[-1].seq,
            )
        if not self._pending:
            self._first_seen = self._clock.monotonic()
        self._pending.extend(events)
        self._read_seq = events[-1].seq
        self._progressed()

    async def _commit_batch(self) -> None:
        """Load the pending batch, then (and only then) advance the checkpoint."""
        batch = self._pending
        await self._connect()
        new = await self._warehouse.load_events(batch)
        self._fault_point()
        last = batch[-1].seq
        await self._warehouse.set_checkpoint(self.name, last)
        self._checkpoint = last
        self._pending = []
        self.totals["events"] += len(batch)
        self.totals["loaded"] += new
        self.totals["batches"] += 1
        if self._metrics is not None:
            self._metrics.loaded.inc(len(batch))
            self._metrics.batches.inc()
            self._metrics.checkpoint.set(last)
        log.info("ETL: loaded %d events (%d new); checkpoint %d", len(batch), new, last)
        await self._mirror()
        self._progressed()

    async def _mirror(self) -> None:
        # After the warehouse checkpoint, never before: the mirror protects retention. A failed
        # write is retried at the start of the next turn.
        if self._checkpoint is not None:
            self._mirror_stale = True
            at = self._clock.now().isoformat().replace("+00:00", "Z")
            await self._store.set_state(mirror_key(self.name), {"seq": self._checkpoint, "at": at})
            self._mirror_stale = False

    def _fault_point(self) -> None:
        if self._crash_after is None:
            return
        self._loads += 1
        if self._loads >= self._crash_after:
            os.write(2, f"{CRASH_AFTER_LOAD_ENV}: killing the ETL after a load\n".encode())
            os.kill(os.getpid(), signal.SIGKILL)

    def _up(self, up: bool) -> None:
        if self._metrics is not None:
            self._metrics.warehouse_up.set(1 if up else 0)
            if not up:
                self._metrics.failures.inc()

    async def _refresh_lag(self) -> None:
        now = self._clock.monotonic()
        if now - self._lag_at < self._poll:
            return
        self._lag_at = now
        with contextlib.suppress(StoreError):  # the outage is reported by the read path
            await self.lag()


def _crash_after_from_env() -> int | None:
    text = os.environ.get(CRASH_AFTER_LOAD_ENV, "").strip()
    if not text.isdigit() or int(text) < 1:
        return None
    return int(text)
