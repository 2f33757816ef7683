"""The condition language: Gatus-style conditions, parsed once and evaluated against observations.

A condition reads ``LEFT OPERATOR RIGHT``: ``[STATUS] == 200``, ``[BODY].status == UP``,
``len([BODY].items) > 0``, ``[CERTIFICATE_EXPIRATION] > 7d``, ``[BODY].version =~ ^2\\.``.
Parsing (``condition_syntax.py``) checks and compiles everything, paths, regexes, globs and
durations, so that evaluation is cheap; evaluation never raises. Value semantics live in
``condition_values.py``; docs/conditions.md is the user reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nephos.model import ConditionResult
from nephos.probes.base import Observation
from nephos.probes.condition_syntax import parse
from nephos.probes.condition_values import (
    AGES,
    MS_VALUED,
    PHASES,
    Literal,
    Match,
    Missing,
    ObservedValues,
    Placeholder,
    as_number,
    as_text,
    equals,
    show,
    tls_version,
)

__all__ = ["Condition", "Placeholder", "evaluate_all", "parse_condition"]

_MISSING_WHY = {
    Placeholder.STATUS: "no HTTP response",
    Placeholder.IP: "no IP address was recorded",
    Placeholder.CERTIFICATE_EXPIRATION: "no TLS certificate was seen",
    Placeholder.CERT_NOT_BEFORE: "no TLS certificate was seen",
    Placeholder.TLS_VERSION: "no TLS session",
    Placeholder.DNS_RCODE: "no DNS answer",
    Placeholder.DNS_ANSWERS: "no DNS answer",
}


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
    match: Match  # how the right side matches
    values: tuple[Literal, ...]  # the literal, or the options of any()
    pattern: re.Pattern[str] | None  # the compiled regex or glob
    path_names: tuple[str, ...]  # "[BODY].a", "[BODY].a[0]": each prefix of the path

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
            unit = "ms" if self.placeholder in MS_VALUED else None
            unit = "duration" if self.placeholder in AGES else unit
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
            if self.placeholder is Placeholder.BODY and self.path:
                return not isinstance(observed.walk(self.path, self.path_names), Missing)
            value = self._resolve_plain(observed)
            return not isinstance(value, Missing) and value not in ("", ())
        value = self._resolve_plain(observed)
        if self.function != "len" or isinstance(value, Missing):
            return value
        if self.placeholder is Placeholder.BODY and not self.path and value.startswith("["):
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
        if p is Placeholder.BODY:
            return observed.walk(self.path, self.path_names) if self.path else observed.body_text()
        if p is Placeholder.RESPONSE_TIME:
            return obs.response_time.total_seconds() * 1000
        if p is Placeholder.CONNECTED:
            return obs.connected
        if p in PHASES:
            phase = PHASES[p]
            timing = obs.timings.get(phase)
            return (
                Missing(f"the probe did not time the {phase} phase") if timing is None else timing
            )
        if p is Placeholder.CERTIFICATE_EXPIRATION:
            moment = observed.certificate_not_after()
            return self._missing() if moment is None else _ms(moment - observed.now)
        if p is Placeholder.CERT_NOT_BEFORE:
            moment = observed.certificate_not_before()
            return self._missing() if moment is None else _ms(observed.now - moment)
        if p is Placeholder.TLS_VERSION:
            version = obs.tls.version if obs.tls is not None else None
            return self._missing() if not version else tls_version(version)
        value: Any
        if p is Placeholder.STATUS:
            value = obs.status
        elif p is Placeholder.IP:
            value = obs.ip
        elif p is Placeholder.DNS_RCODE:
            value = obs.dns.rcode.upper() if obs.dns is not None else None
        else:  # DNS_ANSWERS
            value = tuple(obs.dns.answers) if obs.dns is not None else None
        return self._missing() if value is None else value

    def _missing(self) -> Missing:
        return Missing(_MISSING_WHY.get(self.placeholder, ""))

    def _test(self, value: Any) -> bool | str:
        """True when the condition holds; False or a reason in words when it does not."""
        if self.operator == "=~":
            assert self.pattern is not None
            return _holds(self.pattern.search, value)
        if self.operator in ("==", "!="):
            if self.match is Match.GLOB:
                assert self.pattern is not None
                held = _holds(self.pattern.match, value)
            elif isinstance(value, tuple) and self.match is Match.ANY:
                held = any(equals(item, v) for item in value for v in self.values)
            else:
                held = any(equals(value, v) for v in self.values)
            return held if self.operator == "==" else not held
        number = as_number(value)
        limit = self.values[0].number
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
    return Condition(*parse(text))
