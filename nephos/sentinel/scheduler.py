"""The check schedule: when each target runs, how many run at once, and how late they started.

One heap of due times (on the injected clock's monotonic time) drives every target. Each check
runs in its own task under a concurrency semaphore and a deadline, so a slow or hanging target
never delays another. The scheduler does not know what a check does: the runner passes a
coroutine function that checks one target and says whether it is failing. Probing, judging and
storing live in ``nephos.sentinel.runner``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from nephos.clock import Clock
from nephos.model import Target

__all__ = ["CheckFn", "Scheduler", "TimeoutFn", "spread_offset"]

log = logging.getLogger(__name__)

CheckFn = Callable[[Target], Awaitable[bool]]
"""Checks one target; returns True when the target is failing (it is then re-checked sooner)."""

TimeoutFn = Callable[[Target, float], Awaitable[None]]
"""Called with the target and the elapsed seconds when a check overran its deadline."""

_DUE = 0
_DEADLINE = 1


def spread_offset(name: str, interval: float) -> float:
    """A stable offset in ``[0, interval)`` for ``name``: the same name lands on the same phase."""
    return interval * (zlib.crc32(name.encode("utf-8")) / 2**32)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(slots=True, eq=False)
class _Run:
    """One check in flight: its task, when it was planned, and when it must be over."""

    target: Target
    planned: float
    task: asyncio.Task[None] | None = None
    deadline: float = math.inf
    timed_out: bool = False
    done: bool = False


@dataclass(slots=True, eq=False)
class _Slot:
    """The scheduling state of one target; ``generation`` invalidates stale heap entries."""

    target: Target
    planned: float
    generation: int
    run: _Run | None = None


class Scheduler:
    """Runs every target on its interval, bounded, on an injected clock.

    Args:
        check: the coroutine function that checks one target (see :data:`CheckFn`).
        clock: the time source; tests pass a ManualClock.
        concurrency: at most this many checks run at once.
        failing_interval: the default faster re-check interval while a target is failing
            (a target's own ``failing_interval`` wins); None keeps the normal interval.
        timeout_grace: seconds past a target's timeout before the scheduler cancels its check.
            Probes honour their own timeout; this is the backstop for a check that hangs anyway.
        on_timeout: awaited when a check was cancelled at its deadline, so that the runner can
            record a timed-out result.
        on_start: called with the target and its schedule jitter (seconds late) at every start.
        jitter_samples: how many recent jitter samples to keep for percentiles.
        resolution: the shortest sleep of the loop in seconds; checks due within it start
            together, at most this late.

    Raises:
        ValueError: ``concurrency`` is below 1.
    """

    def __init__(
        self,
        check: CheckFn,
        *,
        clock: Clock,
        concurrency: int = 200,
        failing_interval: timedelta | None = None,
        timeout_grace: float = 1.0,
        on_timeout: TimeoutFn | None = None,
        on_start: Callable[[Target, float], None] | None = None,
        jitter_samples: int = 100_000,
        resolution: float = 0.01,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._check = check
        self._clock = clock
        self._concurrency = concurrency
        self._semaphore = asyncio.Semaphore(concurrency)
        self._failing_interval = failing_interval
        self._grace = timeout_grace
        self._resolution = resolution
        self._on_timeout = on_timeout
        self._on_start = on_start
        self._slots: dict[str, _Slot] = {}
        self._runs: set[_Run] = set()
        self._heap: list[tuple[float, int, int, _Slot | _Run, int]] = []
        self._counter = 0  # heap tie-breaker, so that payloads are never compared
        self._generation = 0
        self._wake: asyncio.Future[None] | None = None
        self._stopping = False
        self._active = 0
        self.jitter: deque[float] = deque(maxlen=jitter_samples)
        """Recent schedule jitter samples in seconds (actual start minus planned start)."""
        self.started = 0
        """How many checks have started."""

    # ------------------------------------------------------------------ targets

    @property
    def targets(self) -> list[Target]:
        """The scheduled targets, in schedule order of insertion."""
        return [slot.target for slot in self._slots.values()]

    @property
    def active(self) -> int:
        """How many checks hold a concurrency slot right now."""
        return self._active

    @property
    def in_flight(self) -> int:
        """How many checks have been launched and have not ended (waiting or running)."""
        return len(self._runs)

    def next_due(self, name: str) -> float | None:
        """The planned monotonic start of ``name``'s next run, None if it is running or unknown."""
        slot = self._slots.get(name)
        if slot is None or slot.run is not None:
            return None
        return slot.planned

    def configure(self, *, concurrency: int, failing_interval: timedelta | None) -> None:
        """Change the bound and the default failing interval for checks launched from now on.

        Checks already holding a slot keep it; for a while, old and new slots may add up.

        Raises:
            ValueError: ``concurrency`` is below 1.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if concurrency != self._concurrency:
            self._concurrency = concurrency
            self._semaphore = asyncio.Semaphore(concurrency)
        self._failing_interval = failing_interval

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Schedule ``targets``: the first call spreads first runs evenly over each interval;
        later calls (config reloads) add, drop and reschedule only what changed.

        Disabled targets are not scheduled. A changed target keeps its phase unless its new
        interval brings its next run closer; a check in flight for a dropped or changed target
        finishes, and a changed target's next run is planned under its new definition.
        """
        wanted = {t.name: t for t in targets if t.enabled}
        now = self._clock.monotonic()
        first = not self._slots
        for name in list(self._slots):
            if name not in wanted:
                del self._slots[name]
        for index, (name, target) in enumerate(wanted.items()):
            old = self._slots.get(name)
            if old is not None and old.target == target:
                continue
            interval = target.interval.total_seconds()
            slot = _Slot(target, 0.0, self._next_generation())
            if old is not None and old.run is not None:
                # Planned again when the running check ends (see _finish), on the old phase.
                slot.run, slot.planned = old.run, old.planned
            else:
                if first:
                    slot.planned = now + interval * index / len(wanted)
                else:
                    slot.planned = now + spread_offset(name, interval)
                if old is not None:
                    slot.planned = min(slot.planned, old.planned)
                self._push(slot.planned, _DUE, slot, slot.generation)
            self._slots[name] = slot

    # ------------------------------------------------------------------ loop

    async def run(self) -> None:
        """Run the schedule until :meth:`stop`; return once the checks in flight have ended.

        A check in flight at stop finishes, or is cancelled at its deadline.
        """
        self._stopping = False
        try:
            while not (self._stopping and not self._runs):
                now = self._clock.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    self._dispatch(*heapq.heappop(self._heap)[3:])
                await self._sleep_until_next(now)
        finally:
            for run in list(self._runs):
                if run.task is not None:
                    run.task.cancel()

    def stop(self) -> None:
        """Stop starting checks; :meth:`run` returns once the checks in flight have ended.

        A second call does not wait for them: the checks in flight are cancelled.
        """
        if self._stopping:
            for run in list(self._runs):
                if run.task is not None:
                    run.task.cancel()
        self._stopping = True
        self._poke()

    def jitter_percentile(self, pct: float) -> float:
        """The ``pct`` percentile (0-100) of the recent jitter samples, or 0.0 with none."""
        if not self.jitter:
            return 0.0
        ordered = sorted(self.jitter)
        index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
        return ordered[index]

    # ------------------------------------------------------------------ internals

    def _next_generation(self) -> int:
        self._generation += 1
        return self._generation

    def _push(self, when: float, kind: int, payload: _Slot | _Run, generation: int) -> None:
        self._counter += 1
        heapq.heappush(self._heap, (when, kind, self._counter, payload, generation))
        if self._heap[0][2] == self._counter:
            self._poke()  # the loop may be sleeping towards a later time

    def _poke(self) -> None:
        if self._wake is not None:
            _resolve(self._wake)

    async def _sleep_until_next(self, now: float) -> None:
        # Deadlines of checks that already ended would only wake the loop for nothing.
        while self._heap and isinstance(self._heap[0][3], _Run) and self._heap[0][3].done:
            heapq.heappop(self._heap)
        loop = asyncio.get_running_loop()
        wake = self._wake = loop.create_future()
        sleeper: asyncio.Task[None] | None = None
        if self._heap:
            # Waking at most every `resolution` seconds launches checks in small batches
            # instead of one wake-up per target; starts are at most that much later.
            delay = max(self._heap[0][0] - now, self._resolution)
            sleeper = loop.create_task(self._clock.sleep(delay))
            sleeper.add_done_callback(lambda _: _resolve(wake))
        try:
            await wake
        finally:
            if sleeper is not None and not sleeper.done():
                sleeper.cancel()
            self._wake = None

    def _launch(self, slot: _Slot) -> None:
        run = _Run(slot.target, slot.planned)
        slot.run = run
        self._runs.add(run)
        run.task = asyncio.create_task(self._run_one(run), name=f"check:{slot.target.name}")

    async def _run_one(self, run: _Run) -> None:
        target = run.target
        failing = False
        try:
            async with self._semaphore:
                if self._stopping:
                    return
                self._active += 1
                start = self._clock.monotonic()
                try:
                    jitter = start - run.planned
                    self.jitter.append(jitter)
                    self.started += 1
                    if self._on_start is not None:
                        self._on_start(target, jitter)
                    run.deadline = start + target.timeout.total_seconds() + self._grace
                    self._push(run.deadline, _DEADLINE, run, 0)
                    failing = await self._check(target)
                except asyncio.CancelledError:
                    if not run.timed_out:
                        raise
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                    failing = True
                    elapsed = self._clock.monotonic() - start
                    log.warning("check of %r cancelled after %.1fs", target.name, elapsed)
                    if self._on_timeout is not None:
                        await self._on_timeout(target, elapsed)
                except Exception:
                    # A bug in one check must not stop the schedule; the target is re-checked.
                    log.exception("check of %r raised", target.name)
                    failing = True
                finally:
                    self._active -= 1
        finally:
            self._finish(run, failing)

    def _dispatch(self, payload: _Slot | _Run, generation: int) -> None:
        if isinstance(payload, _Run):
            self._expire(payload)
            return
        if self._stopping or self._slots.get(payload.target.name) is not payload:
            return
        if generation == payload.generation and payload.run is None:
            self._launch(payload)

    def _expire(self, run: _Run) -> None:
        if not run.done and run.task is not None and not run.timed_out:
            run.timed_out = True
            run.task.cancel()

    def _finish(self, run: _Run, failing: bool) -> None:
        run.done = True
        self._runs.discard(run)
        if self._stopping and not self._runs:
            self._poke()  # the loop waits for the last check in flight to end
        slot = self._slots.get(run.target.name)
        if slot is None or slot.run is not run:
            return
        slot.run = None
        if self._stopping:
            return
        interval = slot.target.interval
        if failing:
            interval = slot.target.failing_interval or self._failing_interval or interval
        now = self._clock.monotonic()
        # Plan from the planned start, not the actual one, so that jitter never accumulates.
        slot.planned = max(slot.planned + interval.total_seconds(), now)
        slot.generation = self._next_generation()
        self._push(slot.planned, _DUE, slot, slot.generation)
