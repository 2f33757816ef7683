"""Batching of check results: one store write per ~100 ms or 500 results, not one per check.

The batcher only collects and paces. What a write is (the spooling writer) and what happens to
each result once written (the alert book, the observer) are passed in by the runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nephos.clock import Clock
from nephos.model import CheckResult, Target

__all__ = ["ResultBatcher"]

WriteFn = Callable[[list[CheckResult]], Awaitable[None]]
AfterFn = Callable[[Target, CheckResult], Awaitable[None]]
DoneFn = Callable[[], Awaitable[None]]

_SLICE = 50  # results handed on between two yields to the event loop


class ResultBatcher:
    """Collects results and writes them in batches, in arrival order.

    Args:
        write: writes one batch (it must not raise for a store outage: it spools).
        after: awaited for each result of a batch once the batch was written, in order.
        done: awaited once per batch after every result was handed on (the sentinel writes
            the alert book's changed state there, once per batch rather than per result).
        clock: paces the batches.
        interval: seconds a result may wait for company before its batch is written.
        size: a batch is written at once when it holds this many results.
    """

    def __init__(
        self,
        write: WriteFn,
        after: AfterFn,
        *,
        clock: Clock,
        interval: float = 0.1,
        size: int = 500,
        done: DoneFn | None = None,
    ) -> None:
        self._write = write
        self._after = after
        self._done = done
        self._clock = clock
        self._interval = interval
        self._size = size
        self._batch: list[tuple[Target, CheckResult]] = []
        self._ready = asyncio.Event()
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Results collected and not yet written."""
        return len(self._batch)

    def add(self, target: Target, result: CheckResult) -> None:
        """Queue one result; it is written within ``interval`` while :meth:`run` runs."""
        self._batch.append((target, result))
        self._ready.set()
        if len(self._batch) >= self._size:
            self._full.set()

    async def run(self) -> None:
        """Write batches as they fill or age, until cancelled (then call :meth:`flush`)."""
        while True:
            await self._ready.wait()
            if len(self._batch) < self._size:
                await self._full_or_timeout()
            await self.flush()

    async def flush(self) -> None:
        """Write everything collected so far, and hand each result on."""
        async with self._lock:
            while self._batch:
                batch, self._batch = self._batch, []
                self._ready.clear()
                self._full.clear()
                await self._write([result for _, result in batch])
                for n, (target, result) in enumerate(batch, 1):
                    await self._after(target, result)
                    if n % _SLICE == 0:
                        # Handing on seldom waits for the store: let due checks start between
                        # slices of a big batch rather than after all of it.
                        await asyncio.sleep(0)
                if self._done is not None:
                    await self._done()

    async def _full_or_timeout(self) -> None:
        full = asyncio.ensure_future(self._full.wait())
        tick = asyncio.ensure_future(self._clock.sleep(self._interval))
        try:
            await asyncio.wait({full, tick}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            full.cancel()
            tick.cancel()
