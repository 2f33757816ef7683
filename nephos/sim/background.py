"""The demo on a thread of its own, for a face (the terminal UI) that owns the main thread.

:class:`BackgroundDemo` runs :func:`~nephos.sim.fleet.run_demo` with its hub on loopback in a
thread with its own event loop, hands back the hub's URL once it listens, and stops it all
(flushing what the sentinel holds) when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from nephos.config.types import HubConfig
from nephos.errors import StreamError
from nephos.sim.fleet import run_demo

if TYPE_CHECKING:
    from nephos.sentinel.runner import Sentinel

__all__ = ["BackgroundDemo"]


class BackgroundDemo:
    """The demo on a thread and event loop of its own, serving its hub on loopback.

    For a face that needs the main thread itself (the Textual app of ``nephos watch``): start
    it, connect to :meth:`start`'s URL, and :meth:`stop` it when the face is done.

    Args:
        store_path: the SQLite hot store file (created when missing).
        seed: seeds the simulation.
        interval: the check interval of every target.
        listen: where the hub listens; port 0 picks a free port.
    """

    def __init__(
        self,
        *,
        store_path: str,
        seed: int = 7,
        interval: timedelta = timedelta(seconds=5),
        listen: str = "127.0.0.1:0",
    ) -> None:
        self._store_path, self._seed, self._interval = store_path, seed, interval
        self._hub = HubConfig(listen=listen)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sentinel: Sentinel | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._url: str | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        """Whether the demo's thread is still alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 60.0) -> str:
        """Start the fleet, the sentinel and the hub; the hub's ``ws://`` URL once it listens.

        Raises:
            BackendError: the store could not be opened, or the hub could not listen.
            OSError: a simulated server could not start.
            StreamError: the demo was not serving within ``timeout`` seconds.
        """
        self._thread = threading.Thread(target=self._main, name="nephos-demo", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise StreamError(f"the demo's hub was not serving after {timeout:g}s")
        if self._error is not None:
            raise self._error
        assert self._url is not None
        return self._url

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the sentinel (it flushes what it holds), the hub and the fleet; idempotent."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile, and there is nothing left to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._stop_now)
        if self._thread is not None:
            self._thread.join(timeout)

    def _stop_now(self) -> None:
        self._stopping = True
        if self._sentinel is not None:
            self._sentinel.stop()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # handed to the thread that called start()
            self._error = exc
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        announced: list[asyncio.Task[None]] = []

        def ready(sentinel: Sentinel) -> None:
            self._sentinel = sentinel
            if self._stopping:
                sentinel.stop()
            announced.append(asyncio.create_task(self._announce(sentinel)))

        await run_demo(
            store_path=self._store_path,
            seed=self._seed,
            interval=self._interval,
            on_ready=ready,
            serve=self._hub,
        )
        for task in announced:
            task.cancel()

    async def _announce(self, sentinel: Sentinel) -> None:
        await sentinel.serving.wait()
        if sentinel.hub is not None:
            self._url = sentinel.hub.url
        self._ready.set()
