"""Per-target alert state: failure and success counters and flap history, kept in the store.

The alert book (``alerts``) decides; this module remembers. A target's state is read from the
store's key-value state the first time the target is seen (or for a whole batch of targets at
once, with :meth:`TargetStates.prefetch`) and written back only when it changed. In deferred
mode, which the sentinel uses, changed states wait in memory and :meth:`TargetStates.flush`
writes them all in one transaction, once per batch of results, rather than one transaction
per check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nephos.config.types import SentinelConfig
from nephos.sentinel.flapping import FlapDetector
from nephos.store.base import HotStore

__all__ = ["Counters", "TargetState", "TargetStates", "state_key"]

_PREFIX = "alertbook:target:"


def state_key(target: str) -> str:
    """The store key under which ``target``'s alert state lives."""
    return f"{_PREFIX}{target}"


@dataclass(slots=True)
class Counters:
    """Consecutive failures and successes of one target under one alert rule."""

    failures: int = 0
    successes: int = 0


@dataclass(slots=True)
class TargetState:
    """What the alert book remembers about one target between results."""

    flap: FlapDetector
    counters: dict[int, Counters] = field(default_factory=dict)
    saved: dict[str, Any] | None = None  # the last snapshot stored (or queued), to skip no-ops

    def snapshot(self) -> dict[str, Any]:
        """The JSON-able form stored under :func:`state_key`."""
        return {
            "flap": self.flap.to_state(),
            "counters": {str(i): [c.failures, c.successes] for i, c in self.counters.items()},
        }

    def restore(self, saved: Any) -> None:
        """Load a stored snapshot; anything unreadable in it is ignored."""
        if not isinstance(saved, Mapping):
            return
        self.flap.restore(saved.get("flap"))
        for index, pair in dict(saved.get("counters") or {}).items():
            if isinstance(pair, list) and len(pair) == 2:
                self.counters[int(index)] = Counters(int(pair[0]), int(pair[1]))
        self.saved = self.snapshot()


class TargetStates:
    """The alert state of every target seen, cached, persisted when it changes.

    Args:
        store: where states persist.
        settings: the flap window and threshold of new states.
        deferred: queue changed states for :meth:`flush` instead of writing each at once.
    """

    def __init__(self, store: HotStore, settings: SentinelConfig, *, deferred: bool = False):
        self._store = store
        self._settings = settings
        self._deferred = deferred
        self._states: dict[str, TargetState] = {}
        self._dirty: dict[str, dict[str, Any]] = {}

    @property
    def pending(self) -> int:
        """Changed states waiting for :meth:`flush`."""
        return len(self._dirty)

    def cached(self, name: str) -> TargetState | None:
        """The state of ``name`` if it has been loaded."""
        return self._states.get(name)

    def _new(self) -> TargetState:
        return TargetState(FlapDetector(self._settings.flap_window, self._settings.flap_threshold))

    async def get(self, name: str) -> TargetState:
        """The state of ``name``, read from the store on first use.

        Raises:
            StoreError: the store could not be read.
        """
        state = self._states.get(name)
        if state is None:
            state = self._new()
            state.restore(await self._store.get_state(state_key(name)))
            self._states[name] = state
        return state

    async def prefetch(self, names: Iterable[str]) -> None:
        """Read the states of every target in ``names`` not seen yet, in one go.

        Raises:
            StoreError: the store could not be read.
        """
        missing = [n for n in dict.fromkeys(names) if n not in self._states]
        if not missing:
            return
        found = await self._store.get_states([state_key(n) for n in missing])
        for name in missing:
            state = self._new()
            state.restore(found.get(state_key(name)))
            self._states[name] = state

    async def save(self, name: str, state: TargetState) -> None:
        """Store ``state`` if it changed since it was last stored (or queue it, if deferred).

        Raises:
            StoreError: the store could not be written (not in deferred mode).
        """
        snapshot = state.snapshot()
        if snapshot == state.saved:
            return
        if self._deferred:
            self._dirty[name] = snapshot
        else:
            await self._store.set_state(state_key(name), snapshot)
        state.saved = snapshot

    async def flush(self) -> None:
        """Write every queued state in one store call; on failure they stay queued.

        Raises:
            StoreError: the store could not be written (StoreUnavailable: try again later).
        """
        if not self._dirty:
            return
        batch, self._dirty = self._dirty, {}
        try:
            await self._store.set_states({state_key(n): s for n, s in batch.items()})
        except BaseException:
            # Newer snapshots queued meanwhile win over the ones that failed.
            self._dirty = {**batch, **self._dirty}
            raise
