"""The grounding check: every number in a model's text must match a fact, and each section must
say what the facts require; a section that fails is replaced by the template's.

Numbers are compared with a tolerance: the precision the text shows (``42`` covers 41.5 to
42.5) or 2 % of the fact, whichever is wider, after the unit conversions a writer may make,
chosen by the fact's key (a fraction as a percentage, ``*_minutes`` as hours or days,
``*_hours`` as days or minutes, ``*_ms`` as seconds).
Digits inside names (``vm-db-1``, ``p95``, an alert id, an IP address) are not numbers; dates
and times must be times the facts hold. Section rules add what numbers cannot catch: the
health line states the computed score and health word and no other, every critical alert's
target is named among the immediate actions, the urgency stays near the template's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = [
    "FactIndex",
    "GroundingResult",
    "SectionRule",
    "ground",
    "names_each",
    "near",
    "numbers_in",
    "states_health",
]

D = TypeVar("D", bound=BaseModel)

REL_TOL = 0.02
_UNITS: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("minutes", (1.0, 1 / 60, 1 / 1440)),
    ("minutes_open", (1.0, 1 / 60, 1 / 1440)),
    ("hours", (1.0, 1 / 24, 60.0)),
    ("hours_to_threshold", (1.0, 1 / 24, 60.0)),
    ("_ms", (1.0, 1 / 1000)),
    ("seconds", (1.0, 1 / 60, 1 / 3600)),
)
"""Unit conversions a writer may make, by the suffix of the fact's key."""
_ALWAYS = (0.0, 100.0)
_IP = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b|\b[0-9a-fA-F]*:[0-9a-fA-F:]{3,}\b")
_DATETIME = re.compile(r"\b(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?Z?)?")
_TIME = re.compile(r"(?<![\d:])(\d{1,2}:\d{2})(?::\d{2})?(?![\d:])")
_WORDISH = re.compile(r"[A-Za-z_][\w\-./]*\d[\w\-./]*|\b[1-5]xx\b|\bR²|\b\d+/10\b")
_NUMBER = re.compile(r"(?<![\w.])([-+−]?)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_HEALTH_WORDS = ("healthy", "degraded", "unhealthy", "unknown")


def numbers_in(text: str) -> list[tuple[float, int]]:
    """The numbers written in ``text`` as ``(value, decimals shown)``, leaving out digits that
    belong to names, IP addresses, dates and times."""
    cleaned = _IP.sub(" ", text)
    cleaned = _DATETIME.sub(" ", cleaned)
    cleaned = _TIME.sub(" ", cleaned)
    cleaned = _WORDISH.sub(" ", cleaned)
    out = []
    for sign, whole, frac in _NUMBER.findall(cleaned):
        value = float(whole.replace(",", "") + (frac or ""))
        out.append((-value if sign in ("-", "−") else value, len(frac) - 1 if frac else 0))
    return out


@dataclass(frozen=True, slots=True)
class GroundingResult:
    """A checked document and what was replaced in it."""

    document: Any
    replaced: tuple[str, ...]
    notes: tuple[str, ...]


class FactIndex:
    """The numbers, names and times a facts document holds, for checking text against it.

    Args:
        facts: the JSON form of a facts object.
    """

    def __init__(self, facts: Any) -> None:
        self.numbers: list[float] = []
        self.names: set[str] = set()
        self.times: set[str] = set()
        self._candidates: set[float] = set(_ALWAYS)
        self._walk(facts, "")
        self._sorted = sorted(self._candidates)
        # Longest first, so that "vm-db-10" is removed before "vm-db-1" could split it.
        self._names = sorted(
            (n for n in self.names if any(ch.isdigit() for ch in n)), key=len, reverse=True
        )

    def _add(self, value: float, key: str) -> None:
        self.numbers.append(value)
        size = abs(value)
        conversions: tuple[float, ...] = (1.0,)
        for suffix, units in _UNITS:
            if key.endswith(suffix):
                conversions = units
                break
        if size <= 1.0:
            conversions = (*conversions, 100.0)  # a fraction written as a percentage
        self._candidates.update(size * c for c in conversions)

    def _walk(self, value: Any, key: str) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float):
            if math.isfinite(value):
                self._add(float(value), key)
        elif isinstance(value, str):
            self._text(value)
        elif isinstance(value, Mapping):
            for k, item in value.items():
                self._walk(item, str(k))
        elif isinstance(value, list | tuple):
            for item in value:
                self._walk(item, key)

    def _text(self, text: str) -> None:
        stamp = _DATETIME.fullmatch(text.strip())
        if stamp is not None:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            self.times.add(when.strftime("%Y-%m-%d"))
            self.times.add(when.strftime("%H:%M"))
            return
        if len(text) <= 80:
            self.names.add(text)
        for n, _ in numbers_in(text):
            self._add(n, "")

    def supports(self, value: float, decimals: int) -> bool:
        """Whether ``value``, written with ``decimals`` places, matches a fact."""
        size = abs(value)
        shown = 0.5 * 10.0 ** (-decimals)
        lo, hi = size - shown, size + shown
        for candidate in self._sorted:
            if lo <= candidate <= hi or abs(candidate - size) <= REL_TOL * candidate:
                return True
        return False

    def problems(self, text: str) -> list[str]:
        """What in ``text`` no fact supports: numbers, dates and times."""
        cleaned = text
        for name in self._names:
            cleaned = cleaned.replace(name, " ")
        out = []
        for match in _DATETIME.finditer(cleaned):
            for part in match.groups():
                if part and part not in self.times:
                    out.append(f"the time {part} is in no fact")
        for match in _TIME.finditer(_DATETIME.sub(" ", cleaned)):
            if match.group(1).zfill(5) not in self.times:
                out.append(f"the time {match.group(1)} is in no fact")
        for value, decimals in numbers_in(cleaned):
            if not self.supports(value, decimals):
                out.append(f"{value:g} matches no fact")
        return out


SectionRule = Callable[[str, Any], str | None]
"""A check of one section: ``(section name, its value) -> the problem in words, or None``."""


def _section_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def ground(
    document: D,
    fallback: D,
    index: FactIndex,
    *,
    rules: Iterable[SectionRule] = (),
    numeric_sections: Iterable[str] | None = None,
) -> GroundingResult:
    """Check each section of ``document``; replace a failing one with ``fallback``'s.

    Args:
        document: the model's parsed answer.
        fallback: the template's document for the same facts.
        index: the facts to check against.
        rules: extra checks per section; each returns a problem in words, or None.
        numeric_sections: sections whose numbers are checked (default: every text section).

    Returns:
        The document to show, the names of the replaced sections, and why each was replaced.
    """
    values = document.model_dump()
    kept = dict(values)
    replaced: list[str] = []
    notes: list[str] = []
    checked = set(numeric_sections) if numeric_sections is not None else set(values)
    for name, value in values.items():
        text = _section_text(value)
        problems = index.problems(text) if name in checked and not isinstance(value, int) else []
        for rule in rules:
            problem = rule(name, value)
            if problem:
                problems.append(problem)
        if problems:
            kept[name] = getattr(fallback, name)
            replaced.append(name)
            notes.append(
                f"{name.replace('_', ' ')}: the model's text was replaced by the template's "
                f"({'; '.join(dict.fromkeys(problems))})"
            )
    return GroundingResult(type(document).model_validate(kept), tuple(replaced), tuple(notes))


def states_health(score: float | None, health: str) -> SectionRule:
    """A rule for health lines: they state ``score``, and ``health`` before other health words."""

    def rule(section: str, value: Any) -> str | None:
        if section not in ("health_status", "quick"):
            return None
        text = str(value).lower()
        said = [w for w in re.findall(r"[a-z]+", text) if w in _HEALTH_WORDS]
        if health not in said:
            return f"it does not say the fleet is {health}"
        if said[0] != health:
            return f"it calls the fleet {said[0]}, but it is {health}"
        if score is not None and not any(
            abs(v - score) <= max(0.5 * 10.0 ** (-d), REL_TOL * score) for v, d in numbers_in(text)
        ):
            return f"it does not state the health score {score:g}%"
        return None

    return rule


def names_each(section: str, required: Iterable[str]) -> SectionRule:
    """A rule: ``section`` names every one of ``required`` (such as critical alerts' targets)."""
    needed = list(dict.fromkeys(required))

    def rule(name: str, value: Any) -> str | None:
        if name != section:
            return None
        text = _section_text(value)
        missing = [n for n in needed if n not in text]
        return f"it leaves out {', '.join(missing)}" if missing else None

    return rule


def near(section: str, expected: int, spread: int) -> SectionRule:
    """A rule: the integer ``section`` lies within ``spread`` of ``expected``."""

    def rule(name: str, value: Any) -> str | None:
        if name != section or not isinstance(value, int):
            return None
        if abs(value - expected) > spread:
            return f"{value} is far from the {expected} the facts support"
        return None

    return rule
