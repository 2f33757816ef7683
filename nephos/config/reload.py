"""Live reload: watch the config file and apply a new configuration only when it validates.

:class:`ConfigWatcher` reloads on SIGHUP and when the file changes (its inode, mtime, size or
content hash, polled every second through the injected clock). A new file that does not
validate is reported through ``on_error`` and the running configuration stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping

from nephos.clock import Clock
from nephos.config.loader import load_config
from nephos.config.types import Config
from nephos.errors import ConfigError

__all__ = ["ConfigWatcher"]

_log = logging.getLogger(__name__)
_Fingerprint = tuple[int, int, int, str] | None  # inode, mtime_ns, size, sha256; None: missing


def _fingerprint(path: str) -> _Fingerprint:
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            digest = hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size, digest)


class ConfigWatcher:
    """Reloads a config file on SIGHUP and on change, keeping the last valid configuration.

    Args:
        path: the config file.
        on_change: awaited with each new, valid and different configuration.
        on_error: awaited with the error when a changed file does not validate (or vanished).
        clock: the clock that paces polling.
        env: the environment for ``${VAR}`` references (default ``os.environ``).
        poll_interval: seconds between checks of the file.
    """

    def __init__(
        self,
        path: str,
        on_change: Callable[[Config], Awaitable[None]],
        on_error: Callable[[ConfigError], Awaitable[None]],
        *,
        clock: Clock,
        env: Mapping[str, str] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.path = path
        self._on_change = on_change
        self._on_error = on_error
        self._clock = clock
        self._env = env
        self._poll_interval = poll_interval
        self._current: Config | None = None
        self._seen: _Fingerprint = None
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._signal_tasks: set[asyncio.Task[bool]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def current(self) -> Config:
        """The configuration in force.

        Raises:
            RuntimeError: the watcher has not been started.
        """
        if self._current is None:
            raise RuntimeError("ConfigWatcher.start() has not run")
        return self._current

    async def start(self, initial: Config | None = None) -> Config:
        """Load the file (unless ``initial`` is given), then watch it and listen for SIGHUP.

        Args:
            initial: the configuration already in force, loaded from ``path``.

        Returns:
            The configuration in force.

        Raises:
            ConfigError: the first load failed; nothing is watched then.
        """
        self._seen = await asyncio.to_thread(_fingerprint, self.path)
        current = initial if initial is not None else await asyncio.to_thread(self._load)
        self._current = current
        self._loop = asyncio.get_running_loop()
        try:
            self._loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        except (NotImplementedError, AttributeError, RuntimeError):
            # No SIGHUP (Windows) or not the main thread: polling still works.
            _log.debug("SIGHUP reload unavailable; polling %s only", self.path)
        self._poller = asyncio.create_task(self._poll(), name="nephos-config-watch")
        return current

    async def stop(self) -> None:
        """Stop polling and remove the SIGHUP handler."""
        if self._loop is not None:
            with contextlib.suppress(NotImplementedError, AttributeError, RuntimeError):
                self._loop.remove_signal_handler(signal.SIGHUP)
            self._loop = None
        tasks = [t for t in (self._poller, *self._signal_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._poller = None
        self._signal_tasks.clear()

    async def __aenter__(self) -> ConfigWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def reload(self) -> bool:
        """Read and validate the file now; apply it if it is valid and different.

        Returns:
            Whether a new configuration was applied.
        """
        # Callbacks run outside the lock, so that one may call reload() itself.
        error: ConfigError | None = None
        async with self._lock:
            self._seen = await asyncio.to_thread(_fingerprint, self.path)
            try:
                if self._seen is None:
                    raise ConfigError("cannot be read; keeping the running config", file=self.path)
                config = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                error = exc
            else:
                if config == self._current:
                    return False
                self._current = config
                _log.info("config reloaded from %s", self.path)
        if error is not None:
            _log.warning("config not reloaded: %s", error)
            await self._on_error(error)
            return False
        await self._on_change(config)
        return True

    def _load(self) -> Config:
        return load_config(self.path, env=self._env)

    def _on_sighup(self) -> None:
        task = asyncio.create_task(self.reload(), name="nephos-config-sighup")
        self._signal_tasks.add(task)
        task.add_done_callback(self._signal_tasks.discard)

    async def _poll(self) -> None:
        while True:
            await self._clock.sleep(self._poll_interval)
            fingerprint = await asyncio.to_thread(_fingerprint, self.path)
            if fingerprint != self._seen:
                try:
                    await self.reload()
                except Exception:
                    # A failing callback must not end the watch; the next change retries.
                    _log.exception("config reload callback failed")
