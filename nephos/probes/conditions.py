"""The condition language: parse Gatus-style conditions once, evaluate them against observations.

A condition reads ``LEFT OPERATOR RIGHT``: ``[STATUS] == 200``, ``[BODY].status == UP``,
``len([BODY].items) > 0``, ``[CERTIFICATE_EXPIRATION] > 7d``, ``[BODY].version =~ ^2\\.``.
Parsing compiles everything (paths, regexes, globs, durations) so that evaluation is cheap;
evaluation never raises. The value semantics live in ``condition_values.py``; docs/conditions.md
is the user reference.
"""

from __future__ import annotations

import difflib
import enum
import fnmatch
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nephos.errors import ConditionSyntaxError
from nephos.model import ConditionResult
from nephos.probes.base import Observation
from nephos.probes.condition_values import (
    NO_JSON,
    Literal,
    Missing,
    ObservedValues,
    as_number,
    as_text,
    equals,
    parse_duration_ms,
    parse_number,
    show,
)

__all__ = ["Condition", "Placeholder", "evaluate_all", "parse_condition"]


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
_PHASES = {_P.DNS_TIME: "dns", _P.CONNECT_TIME: "connect", _P.TLS_TIME: "tls", _P.TTFB: "ttfb"}
_MS_VALUED = {_P.RESPONSE_TIME, *_PHASES}  # shown as "1420 ms"
_AGES = {_P.CERTIFICATE_EXPIRATION, _P.CERT_NOT_BEFORE}  # shown as "3d4h"
_TIMES = _MS_VALUED | _AGES
_NUMERIC = {_P.STATUS, _P.TLS_VERSION, _P.BODY, *_TIMES}  # may take < <= > >=
_RCODES = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
           "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE")  # fmt: skip
_OPERATORS = ("=~", "==", "!=", "<=", ">=", "<", ">")
_KNOWN_OPERATORS = "==, !=, <, <=, >, >=, =~"
_TYPOS = (("=<", "<="), ("=>", ">="), ("!", "!="), ("=", "=="))
_FUNCTION = re.compile(r"([A-Za-z_]\w*)\s*\(")
_KEY = re.compile(r"[^.\[\]\s()=!<>~\"]+")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_QUOTED_KEY = re.compile(r"\[\s*\"([^\"]*)\"\s*\]")
_RIGHT_PLACEHOLDER = re.compile(r"\[([A-Za-z_]+)\]")
_PLACEHOLDER_NAMES = frozenset(p.value for p in Placeholder)
_MISSING_WHY = {
    _P.STATUS: "no HTTP response",
    _P.IP: "no IP address was recorded",
    _P.CERTIFICATE_EXPIRATION: "no TLS certificate was seen",
    _P.CERT_NOT_BEFORE: "no TLS certificate was seen",
    _P.TLS_VERSION: "no TLS session",
    _P.DNS_RCODE: "no DNS answer",
    _P.DNS_ANSWERS: "no DNS answer",
}


class _Match(enum.Enum):
    LITERAL = "literal"
    ANY = "any"
    GLOB = "glob"
    REGEX = "regex"


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    """One parsed condition. Build it with :func:`parse_condition`; equal when the text is."""

    text: str
    left: str  # the left side as written, e.g. "len([BODY].items)"
    placeholder: Placeholder
    path: tuple[str | int, ...]  # the JSON path after [BODY]
    function: str  # "", "len" or "has"
    operator: str
    right: str  # the right side as written
    _match: _Match
    _values: tuple[Literal, ...]
    _pattern: re.Pattern[str] | None
    _path_names: tuple[str, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Condition) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def evaluate(self, obs: Observation, *, now: datetime | None = None) -> ConditionResult:
        """Evaluate against ``obs``; ``now`` (default: the system clock) dates certificates.

        Never raises: a missing value or a type mismatch is a failed result saying so.
        """
        return self.evaluate_in(ObservedValues(obs, now))

    def evaluate_in(self, observed: ObservedValues) -> ConditionResult:
        """Evaluate against an observation whose body may already be parsed."""
        try:
            value = self._resolve(observed)
            if isinstance(value, Missing):
                why = f" ({value.detail})" if value.detail else ""
                return self._result(False, None, f"{self.left} is missing{why}")
            outcome = self._test(value)
        except Exception as exc:  # the sentinel loop must survive any value a server sends
            return self._result(False, None, f"{self.left} could not be evaluated ({exc!r:.80})")
        unit = None
        if not self.function:
            unit = "ms" if self.placeholder in _MS_VALUED else None
            unit = "duration" if self.placeholder in _AGES else unit
        actual, shown = show(value, time_unit=unit)
        expected = f"{self.operator} {self.right}"
        if outcome is True:
            return self._result(True, actual, f"{self.left} was {shown} ({expected})")
        why = f" ({outcome})" if isinstance(outcome, str) else ""
        return self._result(False, actual, f"{self.left} was {shown}, expected {expected}{why}")

    def _result(self, passed: bool, actual: str | None, description: str) -> ConditionResult:
        return ConditionResult(self.text, passed, actual, description)

    def _resolve(self, observed: ObservedValues) -> Any:
        if self.function == "has":
            if self.placeholder is _P.BODY and self.path:
                return not isinstance(observed.walk(self.path, self._path_names), Missing)
            value = self._resolve_plain(observed)
            return not isinstance(value, Missing) and value not in ("", ())
        value = self._resolve_plain(observed)
        if self.function != "len" or isinstance(value, Missing):
            return value
        if self.placeholder is _P.BODY and not self.path and value.startswith("["):
            parsed = observed.body_json()
            if isinstance(parsed, list):
                return len(parsed)
        if value is None:
            return 0
        if isinstance(value, (str, list, dict, tuple)):
            return len(value)
        return len(as_text(value))

    def _resolve_plain(self, observed: ObservedValues) -> Any:
        obs, p = observed.obs, self.placeholder
        if p is _P.BODY:
            return observed.walk(self.path, self._path_names) if self.path else observed.body_text()
        if p is _P.RESPONSE_TIME:
            return obs.response_time.total_seconds() * 1000
        if p is _P.CONNECTED:
            return obs.connected
        if p in _PHASES:
            phase = _PHASES[p]
            timing = obs.timings.get(phase)
            return (
                Missing(f"the probe did not time the {phase} phase") if timing is None else timing
            )
        if p is _P.CERTIFICATE_EXPIRATION:
            moment = observed.certificate_not_after()
            return self._missing() if moment is None else _ms(moment - observed.now)
        if p is _P.CERT_NOT_BEFORE:
            moment = observed.certificate_not_before()
            return self._missing() if moment is None else _ms(observed.now - moment)
        if p is _P.TLS_VERSION:
            version = obs.tls.version if obs.tls is not None else None
            return self._missing() if not version else _tls_version(version)
        value: Any
        if p is _P.STATUS:
            value = obs.status
        elif p is _P.IP:
            value = obs.ip
        elif p is _P.DNS_RCODE:
            value = obs.dns.rcode.upper() if obs.dns is not None else None
        else:  # DNS_ANSWERS
            value = tuple(obs.dns.answers) if obs.dns is not None else None
        return self._missing() if value is None else value

    def _missing(self) -> Missing:
        return Missing(_MISSING_WHY.get(self.placeholder, ""))

    def _test(self, value: Any) -> bool | str:
        """True when the condition holds; False or a reason in words when it does not."""
        if self.operator == "=~":
            assert self._pattern is not None
            return _holds(self._pattern.search, value)
        if self.operator in ("==", "!="):
            if self._match is _Match.GLOB:
                assert self._pattern is not None
                held = _holds(self._pattern.match, value)
            elif isinstance(value, tuple) and self._match is _Match.ANY:
                held = any(equals(item, v) for item in value for v in self._values)
            else:
                held = any(equals(value, v) for v in self._values)
            return held if self.operator == "==" else not held
        number = as_number(value)
        limit = self._values[0].number
        if number is None or limit is None:
            return "not a number"
        if self.operator == "<":
            return number < limit
        if self.operator == "<=":
            return number <= limit
        if self.operator == ">":
            return number > limit
        return number >= limit


def _holds(match: Callable[[str], object], value: Any) -> bool:
    # A list placeholder matches when every item does (and there is at least one).
    if isinstance(value, tuple):
        return bool(value) and all(match(item) is not None for item in value)
    return match(as_text(value)) is not None


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def _tls_version(text: str) -> str:
    cleaned = text.strip()
    for prefix in ("TLSV", "TLS"):
        if cleaned.upper().startswith(prefix):
            return cleaned[len(prefix) :].strip()
    return cleaned


def evaluate_all(
    conditions: Iterable[Condition], obs: Observation, *, now: datetime | None = None
) -> tuple[ConditionResult, ...]:
    """Evaluate every condition against ``obs``, decoding and parsing the body at most once.

    ``now`` (default: the system clock) dates certificates. Never raises.
    """
    observed = ObservedValues(obs, now)
    return tuple(c.evaluate_in(observed) for c in conditions)


def parse_condition(text: str) -> Condition:
    """Parse one condition, compiling its path, regex, glob and literals.

    Raises:
        ConditionSyntaxError: the text is empty or malformed: an unknown placeholder or
            function, a missing or unknown operator, unbalanced brackets or parentheses, a bad
            regular expression, or a right side that cannot compare with the left.
    """
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, pos: int | None = None) -> ConditionSyntaxError:
        column = (self.pos if pos is None else pos) + 1
        return ConditionSyntaxError(message, expression=self.text, column=column)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def parse(self) -> Condition:
        if not self.text.strip():
            raise self.fail("empty condition (expected e.g. [STATUS] == 200)", 0)
        self.skip_space()
        start = self.pos
        function, placeholder, path, names = self.left()
        left = self.text[start : self.pos]
        self.skip_space()
        operator = self.operator(left)
        raw = self.text[self.pos :]
        right_at = self.pos + len(raw) - len(raw.lstrip())
        right = raw.strip()
        if not right:
            raise self.fail(f"expected a value after {operator}", len(self.text.rstrip()))
        if right[0] in "=<>~" and right_at == self.pos:
            bad = operator + right[: len(right) - len(right.lstrip("=<>~"))]
            raise self.fail(
                f"unknown operator {bad} (known: {_KNOWN_OPERATORS})", right_at - len(operator)
            )
        side = _Right(self, left, function, placeholder, operator, right_at)
        match, values, pattern = side.parse(right)
        return Condition(
            self.text.strip(), left, placeholder, path, function, operator, right, match, values,
            pattern, names,
        )  # fmt: skip

    def left(self) -> tuple[str, Placeholder, tuple[str | int, ...], tuple[str, ...]]:
        call = _FUNCTION.match(self.text, self.pos)
        if call is None:
            if not self.text.startswith("[", self.pos):
                raise self.fail("expected a placeholder such as [STATUS] or len(...) first")
            return ("", *self.placeholder())
        name = call.group(1).lower()
        if name in ("pat", "any"):
            raise self.fail(f"{name}() belongs on the right side, e.g. [IP] == {name}(...)")
        if name not in ("len", "has"):
            raise self.fail(f"unknown function {call.group(1)}() (known: len, has, pat, any)")
        opened = call.end() - 1
        self.pos = call.end()
        self.skip_space()
        placeholder, path, names = self.placeholder()
        self.skip_space()
        if not self.text.startswith(")", self.pos):
            raise self.fail(f"unbalanced parentheses: expected ) to close {name}(", opened)
        self.pos += 1
        return name, placeholder, path, names

    def placeholder(self) -> tuple[Placeholder, tuple[str | int, ...], tuple[str, ...]]:
        opened = self.pos
        if not self.text.startswith("[", opened):
            raise self.fail("expected a placeholder such as [STATUS]")
        close = self.text.find("]", opened)
        if close < 0:
            raise self.fail("unbalanced brackets: expected ] to close the placeholder", opened)
        written = self.text[opened : close + 1]
        try:
            placeholder = Placeholder(written.upper())
        except ValueError:
            raise self.fail(_unknown_placeholder(written), opened) from None
        self.pos = close + 1
        if placeholder is not _P.BODY:
            if self.text.startswith((".", "["), self.pos):
                raise self.fail(f"{placeholder} takes no path; only [BODY] does")
            return placeholder, (), ()
        path: list[str | int] = []
        names: list[str] = []
        shown = "[BODY]"
        while self.text.startswith((".", "["), self.pos):
            if self.text[self.pos] == ".":
                key = _KEY.match(self.text, self.pos + 1)
                if key is None:
                    raise self.fail("expected a key after . in the path", self.pos + 1)
                path.append(key.group())
                shown += "." + key.group()
                self.pos = key.end()
            elif index := _INDEX.match(self.text, self.pos):
                path.append(int(index.group(1)))
                shown += f"[{index.group(1)}]"
                self.pos = index.end()
            elif quoted := _QUOTED_KEY.match(self.text, self.pos):
                path.append(quoted.group(1))
                shown += f'["{quoted.group(1)}"]'
                self.pos = quoted.end()
            elif "]" not in self.text[self.pos :]:
                raise self.fail("unbalanced brackets: expected ] in the path")
            else:
                raise self.fail('expected an array index such as [0] or a key such as ["a.b"]')
            names.append(shown)
        return placeholder, tuple(path), tuple(names)

    def operator(self, left: str) -> str:
        for operator in _OPERATORS:
            if self.text.startswith(operator, self.pos):
                self.pos += len(operator)
                return operator
        if self.pos >= len(self.text):
            raise self.fail(f"missing operator after {left} (expected one of {_KNOWN_OPERATORS})")
        if self.text[self.pos] == ")":
            raise self.fail("unbalanced parentheses: ) without (")
        found = self.text[self.pos :].split(None, 1)[0][:12]
        hint = next((f" (did you mean {v}?)" for k, v in _TYPOS if found.startswith(k)), "")
        raise self.fail(
            f"expected an operator ({_KNOWN_OPERATORS}) after {left}, found {found!r}{hint}"
        )


def _unknown_placeholder(written: str) -> str:
    names = [p.value for p in Placeholder]
    close = difflib.get_close_matches(written.upper(), names, n=1, cutoff=0.6)
    if close:
        return f"unknown placeholder {written} (did you mean {close[0]}?)"
    shown = ", ".join(names[:4])
    return f"unknown placeholder {written} (known: {shown}, ... see docs/conditions.md)"


class _Right:
    """Parses and checks the right side against what the left side can be."""

    def __init__(
        self,
        parser: _Parser,
        left: str,
        function: str,
        placeholder: Placeholder,
        operator: str,
        at: int,
    ) -> None:
        self.parser = parser
        self.left = left
        self.function = function
        self.placeholder = placeholder
        self.operator = operator
        self.at = at

    def fail(self, message: str, offset: int = 0) -> ConditionSyntaxError:
        return self.parser.fail(message, self.at + offset)

    def parse(self, right: str) -> tuple[_Match, tuple[Literal, ...], re.Pattern[str] | None]:
        if self.operator == "=~":
            if self.function == "has":
                raise self.fail("has() is true or false: compare it with == true or == false")
            try:
                return _Match.REGEX, (), re.compile(right)
            except re.error as exc:
                message = f"invalid regular expression after =~: {exc.msg}"
                raise self.fail(message, exc.pos or 0) from exc
        known = _RIGHT_PLACEHOLDER.match(right)
        if known and f"[{known.group(1).upper()}]" in _PLACEHOLDER_NAMES:
            raise self.fail("compare a placeholder with a value, not with another placeholder")
        call = _FUNCTION.match(right)
        if call is None:
            return _Match.LITERAL, (self.literal(right, 0),), None
        name = call.group(1).lower()
        if name in ("len", "has"):
            raise self.fail(f"{name}() belongs on the left side, e.g. {name}([BODY].items) > 0")
        if name not in ("pat", "any"):
            raise self.fail(
                f"unknown function {call.group(1)}() (known: len, has, pat, any;"
                ' quote the value to compare text, e.g. "a(b)")'
            )
        if not right.endswith(")"):
            raise self.fail(f"unbalanced parentheses: expected ) to close {name}(", call.end() - 1)
        if self.operator not in ("==", "!="):
            raise self.fail(f"{name}() works with == and != only")
        if self.function:
            raise self.fail(f"{self.left} is a number or a boolean: {name}() does not apply")
        inner = right[call.end() : -1]
        if name == "pat":
            return _Match.GLOB, (), re.compile(fnmatch.translate(inner.strip()))
        options, offset = [], call.end()
        for part in inner.split(","):
            if part.strip():
                options.append(self.literal(part.strip(), offset + len(part) - len(part.lstrip())))
            offset += len(part) + 1
        if not options:
            raise self.fail("any() needs at least one value, e.g. any(200, 204)", call.end())
        return _Match.ANY, tuple(options), None

    def literal(self, raw: str, offset: int) -> Literal:
        quoted = len(raw) >= 2 and raw[0] == raw[-1] == '"'
        if raw.startswith('"') and not quoted:
            raise self.fail('unbalanced quotes: expected a closing "', offset)
        text = raw[1:-1] if quoted else raw
        number = None if quoted else parse_number(text)
        p, ordering = self.placeholder, self.operator not in ("==", "!=")
        if self.function == "has":
            if ordering or text.lower() not in ("true", "false"):
                raise self.fail("has() is true or false: compare it with == true or == false")
            return Literal(text.lower(), raw)
        if not quoted and (ms := parse_duration_ms(text)) is not None and number is None:
            if self.function or p not in _TIMES:
                raise self.fail(f"{self.left} is not a time: {text} cannot be compared with it")
            number = ms
        if ordering and (self.function == "" and p not in _NUMERIC):
            raise self.fail(f"{self.left} cannot be ordered: use == or != (or =~)")
        if p is _P.TLS_VERSION and not self.function:
            text = _tls_version(text)
            number = parse_number(text)
        numbers_only = self.function == "len" or p in (_P.STATUS, *_TIMES)
        if (ordering or numbers_only) and number is None:
            what = "a duration such as 48h or a number" if p in _TIMES else "a number"
            raise self.fail(f"{self.left} is compared with {what}, not {raw!r}", offset)
        if p is _P.CONNECTED and text.lower() not in ("true", "false"):
            raise self.fail("[CONNECTED] is true or false", offset)
        if p is _P.DNS_RCODE:
            if text.upper() not in _RCODES:
                raise self.fail(f"unknown DNS rcode {text} (known: {', '.join(_RCODES)})", offset)
            text = text.upper()
        items = tuple(item.strip() for item in text.split(",")) if p is _P.DNS_ANSWERS else ()
        parsed = NO_JSON
        if not quoted and text[:1] in ("[", "{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = NO_JSON
        if p is _P.CONNECTED:
            text = text.lower()
        return Literal(text, raw, quoted, number, items, parsed)
