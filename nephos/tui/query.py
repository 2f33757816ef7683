"""Which target rows the table shows, and in what order: the filter language and sorting.

A filter is words separated by spaces, all of which must hold (AND). A word is free text,
matched against the name, provider and region, or ``field:value`` with the fields of
:data:`FIELDS`; ``!`` in front of a word negates it and commas give alternatives
(``state:down,degraded``). Quotes keep spaces (``name:"api gw"``). No Textual here.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nephos.errors import UsageError
from nephos.model import Health
from nephos.tui.state import TargetRow, provider_order

__all__ = [
    "FIELDS",
    "STATE_WORDS",
    "FilterError",
    "RowFilter",
    "SortColumn",
    "SortSpec",
    "Term",
    "parse_filter",
    "sort_rows",
]

STATE_WORDS: dict[str, Health] = {
    "ok": Health.HEALTHY,
    "healthy": Health.HEALTHY,
    "up": Health.HEALTHY,
    "degraded": Health.DEGRADED,
    "warn": Health.DEGRADED,
    "down": Health.UNHEALTHY,
    "unhealthy": Health.UNHEALTHY,
    "unknown": Health.UNKNOWN,
}
"""The words ``state:`` accepts: the table's words and the health names."""

FIELDS = ("state", "provider", "region", "kind", "name", "is")
"""The fields a filter word may name; ``is:`` takes ``flapping`` or ``alerting``."""

_FLAGS = ("flapping", "alerting")


class FilterError(UsageError):
    """A filter does not parse; the message says which word and why."""


@dataclass(frozen=True, slots=True)
class Term:
    """One word of a filter: a field (None for free text), its alternatives, and negation."""

    field: str | None
    values: tuple[str, ...]
    negate: bool = False

    def matches(self, row: TargetRow) -> bool:
        """Whether ``row`` satisfies this word."""
        return self._holds(row) != self.negate

    def _holds(self, row: TargetRow) -> bool:
        if self.field is None:
            haystack = f"{row.name}\n{row.provider}\n{row.region or ''}".casefold()
            return any(v in haystack for v in self.values)
        if self.field == "state":
            return any(STATE_WORDS[v] is row.health for v in self.values)
        if self.field == "provider":
            return row.provider.casefold() in self.values
        if self.field == "region":
            return any(v in (row.region or "").casefold() for v in self.values)
        if self.field == "kind":
            return row.kind.value in self.values
        if self.field == "name":
            return any(v in row.name.casefold() for v in self.values)
        return any(row.flapping if v == "flapping" else row.alerting for v in self.values)


@dataclass(frozen=True, slots=True)
class RowFilter:
    """A parsed filter; the empty filter matches every row."""

    text: str = ""
    terms: tuple[Term, ...] = ()

    def matches(self, row: TargetRow) -> bool:
        """Whether every word of the filter holds for ``row``."""
        return all(term.matches(row) for term in self.terms)

    def __bool__(self) -> bool:
        return bool(self.terms)


_TARGET_VALUES: dict[str, tuple[str, ...]] = {"state": tuple(STATE_WORDS), "is": _FLAGS}


def parse_filter(
    text: str,
    *,
    fields: tuple[str, ...] = FIELDS,
    allowed: Mapping[str, tuple[str, ...]] = _TARGET_VALUES,
) -> RowFilter:
    """Parse the filter language of this module.

    Args:
        text: the filter as typed.
        fields: the fields a word may name (the targets' by default).
        allowed: for fields with a closed vocabulary, the values they accept.

    Raises:
        FilterError: a quote is not closed, a field is unknown, or a value does not fit its field.
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FilterError(f"filter: {exc}") from exc
    terms = tuple(_term(word, fields, allowed) for word in words)
    return RowFilter(text=text.strip(), terms=terms)


def _term(word: str, fields: tuple[str, ...], vocab: Mapping[str, tuple[str, ...]]) -> Term:
    negate = word.startswith("!")
    body = word[1:] if negate else word
    field, sep, rest = body.partition(":")
    if not sep:
        return Term(None, (body.casefold(),), negate)
    field = field.casefold()
    if field not in fields:
        raise FilterError(f"filter: unknown field {field!r} in {word!r} (try {', '.join(fields)})")
    if rest.startswith("!"):  # state:!ok reads as well as !state:ok
        negate, rest = not negate, rest[1:]
    values = tuple(v.casefold() for v in rest.split(",") if v)
    if not values:
        raise FilterError(f"filter: {word!r} has no value")
    allowed = vocab.get(field)
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise FilterError(f"filter: {field}:{bad[0]} is not one of {', '.join(allowed)}")
    return Term(field, values, negate)


class SortColumn(enum.StrEnum):
    """The table's sortable columns, named by their column keys."""

    STATE = "state"
    NAME = "name"
    PROVIDER = "provider"
    REGION = "region"
    LATENCY = "latency"
    CHECKED = "checked"
    TREND = "trend"
    FLAP = "flap"


_SORT_KEYS: dict[SortColumn, Callable[[TargetRow], Any]] = {
    # Worst first reads best for state; newest first for the last check.
    SortColumn.STATE: lambda r: (-r.health.rank, r.name),
    SortColumn.NAME: lambda r: r.name.casefold(),
    SortColumn.PROVIDER: lambda r: (provider_order(r.provider), r.name),
    SortColumn.REGION: lambda r: (r.region or "~", r.name),
    SortColumn.LATENCY: lambda r: (-r.latest.latency_ms, r.name),
    SortColumn.CHECKED: lambda r: (-r.latest.ts.timestamp(), r.name),
    SortColumn.TREND: lambda r: (-max(r.latencies, default=0.0), r.name),
    SortColumn.FLAP: lambda r: (not r.flapping, r.name),
}


@dataclass(frozen=True, slots=True)
class SortSpec:
    """Sort by ``column``; ``reverse`` flips its natural order."""

    column: SortColumn = SortColumn.STATE
    reverse: bool = False

    def toggled(self, column: SortColumn) -> SortSpec:
        """Sorting again by the same column reverses it; another column starts unreversed."""
        if column is self.column:
            return SortSpec(column, not self.reverse)
        return SortSpec(column)

    def describe(self) -> str:
        """``latency ↓``-style words for the table title."""
        return f"{self.column.value} {'↑' if self.reverse else '↓'}"


def sort_rows(rows: Iterable[TargetRow], spec: SortSpec) -> list[TargetRow]:
    """``rows`` in the order ``spec`` asks for; ties fall back to the name."""
    return sorted(rows, key=_SORT_KEYS[spec.column], reverse=spec.reverse)
