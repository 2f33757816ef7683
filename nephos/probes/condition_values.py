"""What a condition compares: placeholders, resolved values, right-hand literals, and their text.

The shared ground of the condition language: ``condition_syntax.py`` parses into these types
and ``conditions.py`` (the public API) evaluates with them. Everything here works on plain
values and never raises for data that a monitored system sent: a missing value is a
:class:`Missing` with words saying why.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from nephos.probes.base import Observation

__all__ = [
    "AGES",
    "MS_VALUED",
    "NO_JSON",
    "ORDERABLE",
    "PHASES",
    "TIMES",
    "Literal",
    "Match",
    "Missing",
    "ObservedValues",
    "Placeholder",
    "as_number",
    "as_text",
    "clip",
    "equals",
    "format_duration_ms",
    "parse_duration_ms",
    "parse_number",
    "show",
    "tls_version",
]

NO_JSON: Any = object()
"""Marks a literal that is not JSON, and a body that has not been parsed yet."""

ACTUAL_LIMIT = 100
"""Longest piece of an observed value that goes into a description; bodies can be 1 MiB."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_INTEGER = re.compile(r"[+-]?(?:\d+|0[xX][0-9a-fA-F]+)\Z")
_HEX = re.compile(r"[+-]?0[xX][0-9a-fA-F]+\Z")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+\Z")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
# Control characters from a monitored system must not break a one-line description.
_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {9: "\\t", 10: "\\n", 13: "\\r", 127: "\\x7f"}
_UNIT_MS = {"ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3, "d": 86400e3}


class Placeholder(enum.StrEnum):
    """The values a condition can read from an observation."""

    STATUS = "[STATUS]"
    RESPONSE_TIME = "[RESPONSE_TIME]"
    BODY = "[BODY]"
    CERTIFICATE_EXPIRATION = "[CERTIFICATE_EXPIRATION]"
    DNS_RCODE = "[DNS_RCODE]"
    CONNECTED = "[CONNECTED]"
    IP = "[IP]"
    TLS_VERSION = "[TLS_VERSION]"
    CERT_NOT_BEFORE = "[CERT_NOT_BEFORE]"
    DNS_ANSWERS = "[DNS_ANSWERS]"
    DNS_TIME = "[DNS_TIME]"
    CONNECT_TIME = "[CONNECT_TIME]"
    TLS_TIME = "[TLS_TIME]"
    TTFB = "[TTFB]"


_P = Placeholder
PHASES: Mapping[Placeholder, str] = MappingProxyType(
    {_P.DNS_TIME: "dns", _P.CONNECT_TIME: "connect", _P.TLS_TIME: "tls", _P.TTFB: "ttfb"}
)
"""The phase timing (``Observation.timings`` key) that each phase placeholder reads."""
MS_VALUED = frozenset({_P.RESPONSE_TIME, *PHASES})  # shown as "1420 ms"
AGES = frozenset({_P.CERTIFICATE_EXPIRATION, _P.CERT_NOT_BEFORE})  # shown as "3d4h"
TIMES = MS_VALUED | AGES  # compare with durations
ORDERABLE = frozenset({_P.STATUS, _P.TLS_VERSION, _P.BODY, *TIMES})  # may take < <= > >=


class Match(enum.Enum):
    """How the right side of a condition matches: a value, any of several, a glob, a regex."""

    LITERAL = "literal"
    ANY = "any"
    GLOB = "glob"
    REGEX = "regex"


def tls_version(text: str) -> str:
    """``TLSv1.3`` as ``1.3``, so that versions compare as numbers."""
    cleaned = text.strip()
    for prefix in ("TLSV", "TLS"):
        if cleaned.upper().startswith(prefix):
            return cleaned[len(prefix) :].strip()
    return cleaned


@dataclass(frozen=True, slots=True)
class Missing:
    """A value that could not be resolved; ``detail`` says why, or is empty."""

    detail: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Literal:
    """One value written on the right of a condition, pre-digested at parse time.

    ``number`` is set when the text is a number (or a duration, in ms, for time
    placeholders) and was not quoted. ``items`` are the comma-separated parts (compared as a
    set with list placeholders). ``json`` is the parsed value of a ``[...]``/``{...}`` literal.
    """

    text: str
    raw: str
    quoted: bool = False
    number: float | None = None
    items: tuple[str, ...] = ()
    json: Any = NO_JSON


def parse_number(text: str) -> float | None:
    """``text`` as a number (decimal, exponent or 0x hex), or None."""
    if _NUMBER.match(text):
        return float(text)
    if _HEX.match(text):
        return float(int(text, 16))
    return None


def parse_duration_ms(text: str) -> float | None:
    """A duration such as ``90s``, ``1h30m`` or ``7d`` in milliseconds, or None."""
    if not _DURATION.match(text):
        return None
    return sum(float(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


def format_duration_ms(ms: float) -> str:
    """A compact duration with at most two units: ``850ms``, ``45s``, ``4h12m``, ``-3d4h``."""
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f}ms"
    rest = int(ms // 1000)
    amounts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, rest = divmod(rest, size)
        amounts.append((amount, unit))
    first = next(i for i, (amount, _) in enumerate(amounts) if amount)
    shown = [f"{a}{u}" for a, u in amounts[first : first + 2] if a]
    return sign + "".join(shown)


def _format_number(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    return repr(value)


def as_text(value: Any) -> str:
    """The full text form of a resolved value, as Gatus compares it (JSON for containers)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _format_number(value)
    if isinstance(value, tuple):
        return ", ".join(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def as_number(value: Any) -> float | None:
    """A resolved value as a number for ordering, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return parse_number(value.strip())
    return None


def equals(value: Any, literal: Literal) -> bool:
    """Gatus equality: numbers compare as numbers, everything else as text."""
    if isinstance(value, tuple):  # a list placeholder ([DNS_ANSWERS]) compares as a set
        return set(value) == set(literal.items)
    if isinstance(value, (dict, list)):
        if literal.json is not NO_JSON:
            return bool(value == literal.json)
        return as_text(value) == literal.text
    if literal.number is not None and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            return value == literal.number
        # Text compares as a number only when both sides are integers, as in Gatus, so that
        # a version "2.10" never equals 2.1.
        if isinstance(value, str) and _INTEGER.match(value) and _INTEGER.match(literal.text):
            return parse_number(value) == literal.number
    text = as_text(value)
    # A quoted literal also matches a body that is literally the quoted JSON string.
    return text == literal.text or (literal.quoted and text == literal.raw)


def clip(text: str, limit: int = ACTUAL_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was when cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


def _bounded_json(value: Any, limit: int) -> str:
    # Encode only as much of a (possibly huge) JSON value as a description can show.
    pieces: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).iterencode(value):
        pieces.append(chunk)
        size += len(chunk)
        if size > limit:
            return "".join(pieces)[:limit] + "…"
    return "".join(pieces)


def show(value: Any, *, time_unit: str | None = None) -> tuple[str, str]:
    """How a resolved value reads: (plain text for ``actual``, text for a description).

    Strings are quoted in descriptions (escaping control characters, since the text comes
    from a monitored system); ``time_unit`` is ``"ms"`` for phase timings and
    ``"duration"`` for certificate ages.
    """
    if time_unit is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        text = format_duration_ms(value) if time_unit == "duration" else f"{value:.0f} ms"
        return text, text
    if isinstance(value, str):
        cut = value[:ACTUAL_LIMIT]
        quoted = f'"{cut.translate(_CONTROL)}"'
        if len(value) > ACTUAL_LIMIT:
            return f"{cut}… ({len(value)} chars)", f"{quoted}… ({len(value)} chars)"
        return value, quoted
    if isinstance(value, (dict, list)):
        text = _bounded_json(value, ACTUAL_LIMIT)
        return text, text
    text = clip(as_text(value))
    return text, text


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ObservedValues:
    """One observation, with its body decoded and parsed at most once for many conditions."""

    __slots__ = ("_json", "_json_error", "_text", "now", "obs")

    def __init__(self, obs: Observation, now: datetime | None = None) -> None:
        self.obs = obs
        self.now = _utc(now) if now is not None else datetime.now(UTC)
        self._text: str | None = None
        self._json: Any = NO_JSON
        self._json_error = ""

    def body_text(self) -> str:
        """The body as text, surrounding whitespace removed (as Gatus does)."""
        if self._text is None:
            self._text = self.obs.body.decode("utf-8", errors="replace").strip()
        return self._text

    def body_json(self) -> Any:
        """The body parsed as JSON, or :class:`Missing` saying why it is not JSON."""
        if self._json is NO_JSON and not self._json_error:
            if not self.obs.body.strip():
                self._json_error = "the body is empty"
            else:
                try:
                    self._json = json.loads(self.obs.body)
                except (ValueError, RecursionError):
                    self._json_error = "the body is not JSON"
                    if self.obs.body_truncated:
                        self._json_error += f" (it was cut at {len(self.obs.body)} bytes)"
        if self._json_error:
            return Missing(self._json_error)
        return self._json

    def walk(self, path: tuple[str | int, ...], names: tuple[str, ...]) -> Any:
        """The JSON value at ``path`` in the body, or :class:`Missing`.

        ``names`` holds the display text of each prefix of the path (``[BODY].a``,
        ``[BODY].a[0]``), used to say where the walk stopped.
        """
        node = self.body_json()
        if isinstance(node, Missing):
            return node
        parent = "[BODY]"
        for step, name in zip(path, names, strict=True):
            if isinstance(step, int):
                if not isinstance(node, list):
                    return Missing(f"{parent} is {_json_kind(node)}, not an array")
                if not -len(node) <= step < len(node):
                    return Missing(f"{parent} has {len(node)} items")
                node = node[step]
            else:
                if not isinstance(node, dict):
                    return Missing(f"{parent} is {_json_kind(node)}, not an object")
                if step not in node:
                    return Missing("" if name == names[-1] else f"{name} is missing")
                node = node[step]
            parent = name
        return node

    def certificate_not_after(self) -> datetime | None:
        """The earliest expiry in the chain the server sent, or the leaf's."""
        tls = self.obs.tls
        if tls is None:
            return None
        dates = [d for d in (tls.leaf_not_after, tls.chain_earliest_not_after) if d is not None]
        return min((_utc(d) for d in dates), default=None)

    def certificate_not_before(self) -> datetime | None:
        """When the leaf certificate became valid, if a certificate was seen."""
        tls = self.obs.tls
        if tls is None or tls.leaf_not_before is None:
            return None
        return _utc(tls.leaf_not_before)


def _json_kind(node: Any) -> str:
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "a boolean"
    if isinstance(node, (int, float)):
        return "a number"
    if isinstance(node, str):
        return "a string"
    if isinstance(node, list):
        return "an array"
    return "an object"
