"""What one stream connection asked for: a resume point and filters by kind, provider, target.

Filters come from the connection URL's query (``?since=N&kinds=check,alert&providers=aws``)
or from a ``subscribe`` message; an empty filter lets everything through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from nephos.model import Alert, CheckResult, Event, EventKind, Instance
from nephos.stream.protocol import ProtocolError, Subscribe, kinds_of

__all__ = ["Filter", "parse_query"]


@dataclass(frozen=True, slots=True)
class Filter:
    """Which events and snapshot records a connection receives; empty sets mean all."""

    kinds: frozenset[EventKind] = frozenset()
    providers: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()

    @classmethod
    def of(cls, subscribe: Subscribe) -> Filter:
        """The filter a ``subscribe`` message asks for."""
        return cls(
            frozenset(subscribe.kinds), frozenset(subscribe.providers), frozenset(subscribe.targets)
        )

    @property
    def everything(self) -> bool:
        """True when nothing is filtered out."""
        return not (self.kinds or self.providers or self.targets)

    def matches(self, event: Event) -> bool:
        """Whether ``event`` passes; the target of an instance event is its name or id, and
        of a metric event its instance."""
        if self.everything:
            return True
        if self.kinds and event.kind not in self.kinds:
            return False
        data = event.data
        if self.providers and data.get("provider") not in self.providers:
            return False
        return not self.targets or any(
            data.get(key) in self.targets for key in _TARGET_KEYS[event.kind]
        )

    def results(self, results: Sequence[CheckResult]) -> tuple[CheckResult, ...]:
        """The snapshot's results that pass."""
        if self.kinds and EventKind.CHECK not in self.kinds:
            return ()
        return tuple(r for r in results if self._record(r.provider, r.target))

    def alerts(self, alerts: Sequence[Alert]) -> tuple[Alert, ...]:
        """The snapshot's alerts that pass."""
        if self.kinds and EventKind.ALERT not in self.kinds:
            return ()
        return tuple(a for a in alerts if self._record(a.provider, a.target))

    def instances(self, instances: Sequence[Instance]) -> tuple[Instance, ...]:
        """The snapshot's instances that pass."""
        if self.kinds and EventKind.INSTANCE not in self.kinds:
            return ()
        return tuple(i for i in instances if self._record(i.provider, i.name, i.id))

    def _record(self, provider: str, *names: str) -> bool:
        if self.providers and provider not in self.providers:
            return False
        return not self.targets or any(n in self.targets for n in names)


_TARGET_KEYS: Mapping[EventKind, tuple[str, ...]] = {
    EventKind.CHECK: ("target",),
    EventKind.ALERT: ("target",),
    EventKind.INSTANCE: ("name", "id"),
    EventKind.METRIC: ("instance",),
}


def parse_query(query: str) -> tuple[int | None, Filter]:
    """The ``since`` and filter of a connection URL's query string.

    List values are comma-separated, and a key may repeat (``kinds=check&kinds=alert``).

    Raises:
        ProtocolError: ``since`` is not a non-negative integer, or a kind is unknown.
    """
    params = parse_qs(query, keep_blank_values=False)
    since: int | None = None
    if "since" in params:
        text = params["since"][-1]
        if not text.isdigit():
            raise ProtocolError(f"since must be a non-negative integer, not {text!r}")
        since = int(text)
    kinds = kinds_of(_listed(params, "kinds") + _listed(params, "kind"))
    return since, Filter(
        frozenset(kinds),
        frozenset(_listed(params, "providers") + _listed(params, "provider")),
        frozenset(_listed(params, "targets") + _listed(params, "target")),
    )


def _listed(params: Mapping[str, Any], key: str) -> list[str]:
    return [item for value in params.get(key, []) for item in value.split(",") if item]
