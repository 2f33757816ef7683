"""What runs beside the checks while the sentinel runs: stop signals (and, next, retention).

The checks themselves, and the metrics server and hub that :class:`~nephos.sentinel.runner.
Sentinel` starts, live in ``runner.py``; this module holds the small loops and handlers it
carries along, so that each can be tested on its own with a manual clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

__all__ = ["stop_signals"]

log = logging.getLogger(__name__)


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
