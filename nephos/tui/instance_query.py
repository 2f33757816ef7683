"""Which instances the instances view shows, and in what order.

The filter language is the targets' (``nephos.tui.query``) with the instances' own fields:
``state:`` takes the normalised instance states (``state:stopped provider:vultr``), ``size:``
the plan, ``health:`` the provider's own signal. No Textual here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from nephos.model import Instance, InstanceState
from nephos.tui.query import RowFilter, Term, parse_filter
from nephos.tui.state import FleetState, provider_order

__all__ = [
    "INSTANCE_FIELDS",
    "InstanceColumn",
    "InstanceSort",
    "instance_matches",
    "parse_instance_filter",
    "sort_instances",
]

INSTANCE_FIELDS = ("state", "provider", "region", "name", "size", "health")
"""The fields an instances filter word may name."""

_STATES = tuple(s.value for s in InstanceState)

# Worst first: what needs a look (error, stopped) before what is in between and what runs.
_STATE_RANK = {
    InstanceState.ERROR: 0,
    InstanceState.STOPPED: 1,
    InstanceState.SUSPENDED: 2,
    InstanceState.STOPPING: 3,
    InstanceState.MAINTENANCE: 4,
    InstanceState.PENDING: 5,
    InstanceState.TERMINATING: 6,
    InstanceState.UNKNOWN: 7,
    InstanceState.RUNNING: 8,
    InstanceState.TERMINATED: 9,
}


def parse_instance_filter(text: str) -> RowFilter:
    """Parse an instances filter (the fields of :data:`INSTANCE_FIELDS`).

    Raises:
        FilterError: a quote is not closed, a field is unknown, or a state is not one of the
            normalised instance states.
    """
    return parse_filter(text, fields=INSTANCE_FIELDS, allowed={"state": _STATES})


def instance_matches(row_filter: RowFilter, instance: Instance) -> bool:
    """Whether every word of ``row_filter`` holds for ``instance``."""
    return all(_holds(term, instance) != term.negate for term in row_filter.terms)


def _holds(term: Term, instance: Instance) -> bool:
    place = f"{instance.region or ''}\n{instance.zone or ''}".casefold()
    if term.field is None:
        tags = "\n".join(f"{k}={v}" for k, v in instance.tags.items())
        haystack = f"{instance.name}\n{instance.id}\n{instance.provider}\n{place}\n{tags}"
        return any(v in haystack.casefold() for v in term.values)
    if term.field == "state":
        return instance.state.value in term.values
    if term.field == "provider":
        return instance.provider.casefold() in term.values
    if term.field == "region":
        return any(v in place for v in term.values)
    if term.field == "name":
        return any(v in f"{instance.name}\n{instance.id}".casefold() for v in term.values)
    if term.field == "size":
        return any(v in (instance.size or "").casefold() for v in term.values)
    return any(v in (instance.health_signal or "").casefold() for v in term.values)


class InstanceColumn(enum.StrEnum):
    """The instances view's sortable columns, named by their column keys."""

    STATE = "state"
    NAME = "name"
    PROVIDER = "provider"
    REGION = "region"
    SIZE = "size"
    CPU = "cpu"
    MEM = "mem"
    HEALTH = "health"


def _latest(state: FleetState, instance: Instance, metric: str) -> float:
    values = state.instance_values(instance, metric)
    return values[-1] if values else -1.0


_SORT_KEYS: dict[InstanceColumn, Callable[[FleetState, Instance], Any]] = {
    InstanceColumn.STATE: lambda f, i: (_STATE_RANK[i.state], i.name),
    InstanceColumn.NAME: lambda f, i: (i.name.casefold(), i.id),
    InstanceColumn.PROVIDER: lambda f, i: (provider_order(i.provider), i.name),
    InstanceColumn.REGION: lambda f, i: (i.region or "~", i.name),
    InstanceColumn.SIZE: lambda f, i: (i.size or "~", i.name),
    # Busiest first reads best for the metrics.
    InstanceColumn.CPU: lambda f, i: (-_latest(f, i, "cpu_percent"), i.name),
    InstanceColumn.MEM: lambda f, i: (-_latest(f, i, "mem_percent"), i.name),
    InstanceColumn.HEALTH: lambda f, i: (i.health_signal or "~", i.name),
}


@dataclass(frozen=True, slots=True)
class InstanceSort:
    """Sort by ``column``; ``reverse`` flips its natural order."""

    column: InstanceColumn = InstanceColumn.STATE
    reverse: bool = False

    def toggled(self, column: InstanceColumn) -> InstanceSort:
        """Sorting again by the same column reverses it; another column starts unreversed."""
        if column is self.column:
            return InstanceSort(column, not self.reverse)
        return InstanceSort(column)

    def describe(self) -> str:
        """``cpu ↓``-style words for the table title."""
        return f"{self.column.value} {'↑' if self.reverse else '↓'}"


def sort_instances(
    state: FleetState, instances: Iterable[Instance], spec: InstanceSort
) -> list[Instance]:
    """``instances`` in the order ``spec`` asks for; ties fall back to the name."""
    key = _SORT_KEYS[spec.column]
    return sorted(instances, key=lambda i: key(state, i), reverse=spec.reverse)
