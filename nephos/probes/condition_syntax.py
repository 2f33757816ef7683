"""The parser of the condition language: text in, checked and compiled parts out.

``conditions.py`` builds a :class:`~nephos.probes.conditions.Condition` from the parts; every
syntax and type mistake is found here, once, when a config is loaded.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
import warnings
from typing import NamedTuple

from nephos.errors import ConditionSyntaxError
from nephos.probes.condition_values import (
    NO_JSON,
    ORDERABLE,
    TIMES,
    Literal,
    Match,
    Placeholder,
    parse_duration_ms,
    parse_number,
    tls_version,
)

__all__ = ["Parts", "parse"]

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


class Parts(NamedTuple):
    """A parsed condition, field for field as :class:`~nephos.probes.conditions.Condition`."""

    text: str
    left: str
    placeholder: Placeholder
    path: tuple[str | int, ...]
    function: str
    operator: str
    right: str
    match: Match
    values: tuple[Literal, ...]
    pattern: re.Pattern[str] | None
    path_names: tuple[str, ...]


def parse(text: str) -> Parts:
    """Parse and check one condition.

    Raises:
        ConditionSyntaxError: the text is empty or malformed (see ``parse_condition``).
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

    def parse(self) -> Parts:
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
        return Parts(
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
        if placeholder is not Placeholder.BODY:
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

    def parse(self, right: str) -> tuple[Match, tuple[Literal, ...], re.Pattern[str] | None]:
        if self.operator == "=~":
            if self.function == "has":
                raise self.fail("has() is true or false: compare it with == true or == false")
            try:
                with warnings.catch_warnings():  # "possible nested set" hints are noise here
                    warnings.simplefilter("ignore", FutureWarning)
                    return Match.REGEX, (), re.compile(right)
            except re.error as exc:
                message = f"invalid regular expression after =~: {exc.msg}"
                raise self.fail(message, exc.pos or 0) from exc
        known = _RIGHT_PLACEHOLDER.match(right)
        if known and f"[{known.group(1).upper()}]" in _PLACEHOLDER_NAMES:
            raise self.fail("compare a placeholder with a value, not with another placeholder")
        call = _FUNCTION.match(right)
        if call is None:
            return Match.LITERAL, (self.literal(right, 0),), None
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
            return Match.GLOB, (), re.compile(fnmatch.translate(inner.strip()))
        options, offset = [], call.end()
        for part in inner.split(","):
            if part.strip():
                options.append(self.literal(part.strip(), offset + len(part) - len(part.lstrip())))
            offset += len(part) + 1
        if not options:
            raise self.fail("any() needs at least one value, e.g. any(200, 204)", call.end())
        return Match.ANY, tuple(options), None

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
            if self.function or p not in TIMES:
                raise self.fail(f"{self.left} is not a time: {text} cannot be compared with it")
            number = ms
        if ordering and (self.function == "" and p not in ORDERABLE):
            raise self.fail(f"{self.left} cannot be ordered: use == or != (or =~)")
        if p is Placeholder.TLS_VERSION and not self.function:
            text = tls_version(text)
            number = parse_number(text)
        numbers_only = self.function == "len" or p in (Placeholder.STATUS, *TIMES)
        if (ordering or numbers_only) and number is None:
            what = "a duration such as 48h or a number" if p in TIMES else "a number"
            raise self.fail(f"{self.left} is compared with {what}, not {raw!r}", offset)
        if p is Placeholder.CONNECTED and text.lower() not in ("true", "false"):
            raise self.fail("[CONNECTED] is true or false", offset)
        if p is Placeholder.DNS_RCODE:
            if text.upper() not in _RCODES:
                raise self.fail(f"unknown DNS rcode {text} (known: {', '.join(_RCODES)})", offset)
            text = text.upper()
        items = (
            tuple(item.strip() for item in text.split(",")) if p is Placeholder.DNS_ANSWERS else ()
        )
        parsed = NO_JSON
        if not quoted and text[:1] in ("[", "{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = NO_JSON
        if p is Placeholder.CONNECTED:
            text = text.lower()
        return Literal(text, raw, quoted, number, items, parsed)
