"""What runs beside the checks: stop signals, the metrics server, background tasks, retention.

The checks themselves (and the hub, which is ``nephos.stream``'s) are wired in ``runner.py``;
this module holds the small loops and handlers :class:`~nephos.sentinel.runner.Sentinel`
carries along, so that each can be tested on its own with a manual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from typing import Any

from nephos.clock import Clock
from nephos.errors import StoreError
from nephos.sentinel.metrics import MetricsServer, SentinelMetrics
from nephos.store.base import HotStore
from nephos.warehouse.etl_lag import read_mirrored_checkpoint
from nephos.warehouse.etl_retention import PurgeReport, purge_hot_store

__all__ = [
    "PURGE_EVERY",
    "in_background",
    "keep_retention",
    "purge_once",
    "serve_metrics",
    "stop_signals",
]

log = logging.getLogger(__name__)

PURGE_EVERY = 3600.0
"""Seconds between two retention passes: often enough that a day's rows never pile up."""


@contextlib.contextmanager
def stop_signals(enabled: bool, on_stop: Callable[[], None]) -> Iterator[None]:
    """Call ``on_stop`` on SIGINT and SIGTERM while the block runs (when ``enabled``).

    Outside the main thread, or where the loop cannot take signal handlers, nothing is
    installed and the block runs as is.

    Args:
        enabled: install the handlers at all.
        on_stop: called on each signal (a second Ctrl-C calls it again).
    """
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_stop)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def in_background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` as a task until ``stack`` unwinds, which cancels it and waits for it."""
    task = asyncio.create_task(work)

    async def cancel() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(cancel)


async def serve_metrics(
    stack: contextlib.AsyncExitStack, metrics: SentinelMetrics, port: int
) -> int:
    """Serve ``metrics`` on 127.0.0.1:``port`` until ``stack`` unwinds; the port bound.

    Raises:
        BackendError: the port could not be bound.
    """
    server = MetricsServer(metrics, port)
    await server.start()
    stack.push_async_callback(server.stop)
    log.info("metrics on http://127.0.0.1:%d/metrics", server.port)
    return server.port


async def purge_once(
    store: HotStore, retention: timedelta, *, clock: Clock, etl: bool = False
) -> PurgeReport:
    """Delete what the hot store holds beyond ``retention``, sparing what the ETL has not loaded.

    Events after the checkpoint that an ETL mirrored into this store are kept (and
    ``purge_hot_store`` warns about them). With ``etl`` (the sentinel runs one), a store it
    has not checkpointed into yet keeps every event. Otherwise a store that no ETL has ever
    checkpointed into has no warehouse to feed, so everything past the retention goes; a
    sentinel used without an ETL would keep every event forever.

    Raises:
        StoreUnavailable: the store is locked, full or gone right now.
        StoreError: the purge failed.
    """
    mirrored = await read_mirrored_checkpoint(store)
    checkpoint = mirrored[0] if mirrored is not None else (0 if etl else None)
    return await purge_hot_store(
        store, retention=retention, clock=clock, warehouse_checkpoint=checkpoint
    )


async def keep_retention(
    store: HotStore,
    retention: timedelta,
    *,
    clock: Clock,
    every: float = PURGE_EVERY,
    etl: bool = False,
) -> None:
    """Purge the hot store at once and then every ``every`` seconds, until cancelled.

    A failed pass is logged and the next one tries again: retention never stops the checks.

    Args:
        store: the opened hot store.
        retention: how long rows are kept (``storage.hot.retention``).
        clock: paces the passes and says what "now" is.
        every: seconds between passes.
        etl: an ETL runs in this sentinel: nothing it has not loaded goes, even before its
            first checkpoint.
    """
    while True:
        try:
            report = await purge_once(store, retention, clock=clock, etl=etl)
        except StoreError as exc:
            log.warning("hot-store retention: purge failed, next try in %.0fs: %s", every, exc)
        else:
            if report.deleted:
                log.info(
                    "hot-store retention: %d row(s) from before %s deleted",
                    report.deleted,
                    report.cutoff.isoformat(),
                )
        await clock.sleep(every)
