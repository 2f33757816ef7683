"""Parsing of the small value languages of the config file: durations, sizes, and suggestions.

These functions raise ConfigError without a location; the loader adds file, line and key
path. They are public because the CLI and the condition language read the same notations.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from nephos.errors import ConfigError

__all__ = ["closest", "format_duration", "parse_duration", "parse_size", "show"]

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Words people write for units, mapped to the unit we read, to suggest a fix.
_UNIT_WORDS = re.compile(
    r"(\d+(?:\.\d+)?)\s*(milliseconds?|msecs?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|"
    r"weeks?|wks?|[smhdw])\b",
    re.IGNORECASE,
)
_WORD_UNIT = {
    "milli": "ms",
    "msec": "ms",
    "sec": "s",
    "s": "s",
    "min": "m",
    "m": "m",
    "hour": "h",
    "hr": "h",
    "h": "h",
    "day": "d",
    "d": "d",
    "week": "w",
    "wk": "w",
    "w": "w",
}

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)", re.IGNORECASE)


def show(value: Any) -> str:
    """``value`` as it would read in YAML, quoted when it is text, shortened when long."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return '"' + text.replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``word`` by spelling, if any is near enough to suggest."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _suggest_duration(text: str) -> str | None:
    parts = _UNIT_WORDS.findall(text)
    if not parts:
        return None
    out = []
    for number, word in parts:
        lowered = word.lower()
        unit = next((u for prefix, u in _WORD_UNIT.items() if lowered.startswith(prefix)), None)
        if unit is None:
            return None
        out.append(f"{number}{unit}")
    return "".join(out)


def parse_duration(value: str | float, *, allow_number: bool = True) -> timedelta:
    """A duration written ``90s``, ``2m``, ``48h``, ``7d``, ``1h30m`` or ``500ms``.

    Args:
        value: the text; a plain number (or numeric text) is read as seconds when
            ``allow_number`` is true.
        allow_number: whether a bare number is accepted.

    Raises:
        ConfigError: the value is not a duration; the message suggests a spelling that is.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{show(value)} is not a duration (write e.g. 30s, 2m, 48h, 7d)")
    if isinstance(value, int | float):
        if not allow_number:
            raise ConfigError(f"{show(value)} needs a unit here (write e.g. {value}s or {value}ms)")
        if value < 0:
            raise ConfigError(f"{show(value)} is negative; a duration cannot be")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ConfigError(f"expected a duration like 30s, 2m, 48h or 7d, got {show(value)}")
    compact = value.strip().replace(" ", "")
    if compact.startswith("-"):
        raise ConfigError(f"{show(value)} is negative; a duration cannot be")
    if allow_number and _NUMBER.fullmatch(compact):
        return timedelta(seconds=float(compact))
    if not _DURATION.fullmatch(compact):
        hint = _suggest_duration(value)
        advice = f"try {hint}" if hint else "write e.g. 30s, 2m, 1h30m, 7d"
        raise ConfigError(f"{show(value)} is not a duration ({advice})")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(compact))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """``value`` in the notation :func:`parse_duration` reads, e.g. ``1h30m`` or ``500ms``."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    if total_ms % 1000:
        return f"{total_ms}ms"
    seconds = total_ms // 1000
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def parse_size(value: str | int) -> int:
    """A size in bytes written ``1048576``, ``512KiB``, ``1MiB``, ``10MB`` or ``1GiB``.

    ``k``/``M``/``G`` with ``i`` are powers of 1024; without it, powers of 1000.

    Args:
        value: a whole number of bytes, or text with a unit.

    Raises:
        ConfigError: the value is not a size or not a whole number of bytes.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"expected a size like 512KiB or 1MiB, got {show(value)}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"{value} is negative; a size cannot be")
        return value
    match = _SIZE.fullmatch(value.strip())
    if not match or (match.group(3) and not match.group(2)):
        raise ConfigError(f"{show(value)} is not a size (write e.g. 512KiB, 1MiB, 10MB)")
    number, prefix, binary, _ = match.groups()
    power = "kmgt".find(prefix.lower()) + 1 if prefix else 0
    size = float(number) * (1024 if binary else 1000) ** power
    if size != int(size):
        raise ConfigError(f"{show(value)} is not a whole number of bytes")
    return int(size)
