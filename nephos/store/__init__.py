"""The hot store: the backend registry and :func:`open_hot_store`.

Backends are imported only when chosen, so that importing ``nephos.store`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from nephos.errors import ConfigError

if TYPE_CHECKING:
    from nephos.clock import Clock
    from nephos.config.types import HotStoreConfig
    from nephos.store.base import HotStore

__all__ = ["BACKENDS", "open_hot_store"]


def _sqlite(cfg: HotStoreConfig, clock: Clock | None) -> HotStore:
    from nephos.store.sqlite import SqliteHotStore

    options = dict(cfg.options)
    busy_timeout = options.pop("busy_timeout", 5.0)
    if options:
        raise ConfigError(
            f"unknown sqlite option(s): {', '.join(sorted(options))} (known: busy_timeout)",
            path="storage.hot.options",
        )
    try:
        seconds = float(busy_timeout)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"busy_timeout must be a number of seconds, not {busy_timeout!r}",
            path="storage.hot.options.busy_timeout",
        ) from exc
    return SqliteHotStore(cfg.path, clock=clock, busy_timeout=seconds)


def _dynamodb(cfg: HotStoreConfig, clock: Clock | None) -> HotStore:
    from nephos.store.dynamodb import DynamoHotStore

    return DynamoHotStore(cfg.options, clock=clock, retention=cfg.retention)


BACKENDS: dict[str, Callable[[HotStoreConfig, Clock | None], HotStore]] = {
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
}
"""Hot store factories by ``storage.hot.backend`` name."""


def open_hot_store(cfg: HotStoreConfig, *, clock: Clock | None = None) -> HotStore:
    """The hot store that ``cfg`` names, constructed but not yet opened (call ``open()``).

    Raises:
        ConfigError: the backend name is unknown or its options are invalid.
    """
    factory = BACKENDS.get(cfg.backend)
    if factory is None:
        raise ConfigError(
            f"unknown hot store backend {cfg.backend!r} (known: {', '.join(sorted(BACKENDS))})",
            path="storage.hot.backend",
        )
    return factory(cfg, clock)
