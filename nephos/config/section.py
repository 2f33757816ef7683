"""A typed reader over one located YAML mapping, raising errors with file, line and key path.

Every section of the schema is read through :class:`Section`: it rejects unknown keys (with
a spelling suggestion), reads Gatus-style ``kebab-case`` keys as ``snake_case``, and turns a
wrong value into ``file:line: path: what was expected``. It knows no schema itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from nephos.config.values import closest, format_duration, parse_duration, parse_size, show
from nephos.config.yamlnodes import Node
from nephos.errors import ConfigError

__all__ = ["Section", "describe", "item_path", "key_path"]

T = TypeVar("T")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def key_path(parent: str, key: str) -> str:
    """``parent.key``, or ``key`` at the top level."""
    return f"{parent}.{key}" if parent else key


def item_path(parent: str, index: int) -> str:
    """``parent[index]``."""
    return f"{parent}[{index}]"


def describe(node: Node) -> str:
    """What a node holds, for "expected X, got Y" messages."""
    return show(node.value)


class Section:
    """One mapping of the config file, read key by key.

    Args:
        node: the mapping node.
        path: its key path, e.g. ``targets[2]`` (empty at the top level).
        file: how errors name the file.
        known: the keys this mapping may hold (snake_case).
        aliases: other spellings of known keys, e.g. ``{"query_type": "record_type"}``.
        open_keys: keep unknown keys in :attr:`extras` instead of rejecting them.
        line: the line that introduces the mapping (its key), for errors about the whole of it;
            default: the mapping's own first line.

    Raises:
        ConfigError: the node is not a mapping, a key is unknown, or one key is written twice.
    """

    def __init__(
        self,
        node: Node,
        path: str,
        file: str | None,
        known: Collection[str],
        *,
        aliases: Mapping[str, str] | None = None,
        open_keys: bool = False,
        line: int | None = None,
    ) -> None:
        self.node = node
        self.line = line or node.line
        self.path = path
        self.file = file
        self.extras: dict[str, Node] = {}
        self._entries: dict[str, tuple[str, Node, int]] = {}
        if not node.is_mapping:
            raise ConfigError(
                f"expected a mapping of keys, got {describe(node)}",
                file=file,
                line=node.line,
                path=path or None,
            )
        for written, child in node.value.items():
            key_line = node.key_lines.get(written, node.line)
            canonical = written.replace("-", "_")
            canonical = (aliases or {}).get(canonical, canonical)
            if canonical in self._entries:
                first, _, first_line = self._entries[canonical]
                raise ConfigError(
                    f"same setting as {first} (line {first_line}); keep one",
                    file=file,
                    line=key_line,
                    path=key_path(path, written),
                )
            if canonical not in known:
                if open_keys:
                    self.extras[written] = child
                    continue
                raise ConfigError(
                    "unknown key" + _unknown_hint(canonical, known),
                    file=file,
                    line=key_line,
                    path=key_path(path, written),
                )
            self._entries[canonical] = (written, child, key_line)

    # ------------------------------------------------------------------ access

    def has(self, key: str) -> bool:
        """Whether ``key`` is set."""
        return key in self._entries

    def get(self, key: str) -> Node | None:
        """The node of ``key``, or None."""
        entry = self._entries.get(key)
        return entry[1] if entry else None

    def path_of(self, key: str) -> str:
        """The key path of ``key`` as the user wrote it."""
        entry = self._entries.get(key)
        return key_path(self.path, entry[0] if entry else key)

    def line_of(self, key: str) -> int:
        """The line of ``key``, or of this mapping when it is not set."""
        entry = self._entries.get(key)
        return entry[2] if entry else self.line

    def error(self, key: str | None, message: str, *, line: int | None = None) -> ConfigError:
        """A ConfigError about ``key`` (or about this whole mapping when ``key`` is None)."""
        if key is None:
            return ConfigError(message, file=self.file, line=line or self.line, path=self.path)
        node = self.get(key)
        where = line or (node.line if node is not None else self.line_of(key))
        return ConfigError(message, file=self.file, line=where, path=self.path_of(key))

    def require(self, key: str) -> Node:
        """The node of ``key``.

        Raises:
            ConfigError: ``key`` is missing.
        """
        node = self.get(key)
        if node is None or node.value is None:
            raise self.error(None, f"missing required key {key}")
        return node

    def convert(self, key: str, parse: Callable[[Any], T], default: T) -> T:
        """``parse(value)`` of ``key``, or ``default`` when it is not set or null.

        A ConfigError (or ValueError) from ``parse`` gets this key's file, line and path.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return default
        try:
            return parse(node.value)
        except ConfigError as exc:
            raise self.error(key, exc.message) from exc
        except ValueError as exc:
            raise self.error(key, str(exc)) from exc

    # ------------------------------------------------------------------ typed readers

    def text(
        self,
        key: str,
        default: str | None = None,
        *,
        choices: Collection[str] | None = None,
        secret: bool = False,
    ) -> str | None:
        """A text value; numbers are accepted and read as their text.

        Raises:
            ConfigError: the value is a list, a mapping or a boolean, or not one of ``choices``.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return default
        value = node.value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            shown = "a secret value" if secret else describe(node)
            raise self.error(key, f"expected text, got {shown}")
        text = str(value)
        if choices is not None:
            folded = text.lower()
            if folded not in choices:
                hint = closest(folded, choices)
                near = f" (did you mean {hint}?)" if hint else ""
                raise self.error(key, f"{show(text)} is not one of {', '.join(choices)}{near}")
            return folded
        return text

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false value (``yes``/``no`` and quoted ``"true"`` are accepted too).

        Raises:
            ConfigError: the value is not a boolean.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return default
        value = node.value
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise self.error(key, f"expected true or false, got {describe(node)}")

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """A whole number within ``[minimum, maximum]``.

        Raises:
            ConfigError: the value is not a whole number or is out of range.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return default
        number = parse_int(node.value)
        if number is None:
            raise self.error(key, f"expected a whole number, got {describe(node)}")
        check_range(self, key, number, minimum, maximum)
        return number

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A number within ``[minimum, maximum]``.

        Raises:
            ConfigError: the value is not a number or is out of range.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return default
        value = node.value
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(key, f"expected a number, got {describe(node)}") from None
        check_range(self, key, number, minimum, maximum)
        return number

    def duration(
        self,
        key: str,
        default: timedelta,
        *,
        allow_number: bool = True,
        minimum: timedelta | None = None,
    ) -> timedelta:
        """A duration (``90s``, ``2m``, ``1h30m``); a plain number is seconds if allowed.

        Raises:
            ConfigError: the value is not a duration or is below ``minimum``.
        """
        value = self.convert(key, lambda v: parse_duration(v, allow_number=allow_number), default)
        if minimum is not None and self.has(key) and value < minimum:
            written = show(self.require(key).value)
            raise self.error(key, f"{written} is too short (minimum {format_duration(minimum)})")
        return value

    def size(self, key: str, default: int, *, minimum: int = 0) -> int:
        """A size in bytes (``512KiB``, ``1MiB``, or a number).

        Raises:
            ConfigError: the value is not a size or is below ``minimum``.
        """
        value = self.convert(key, parse_size, default)
        if value < minimum:
            raise self.error(key, f"{value} bytes is too small (minimum {minimum})")
        return value

    def nodes(self, key: str) -> list[tuple[str, Node]]:
        """The items of a list as ``(path, node)``; a single value counts as a list of one.

        Raises:
            ConfigError: the value is a mapping.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return []
        if node.is_mapping:
            raise self.error(key, "expected a list, got a mapping")
        path = self.path_of(key)
        if not node.is_list:
            return [(path, node)]
        return [(item_path(path, i), item) for i, item in enumerate(node.value)]

    def texts(self, key: str, *, secret: bool = False) -> tuple[str, ...]:
        """A list of text values; a single value counts as a list of one.

        Raises:
            ConfigError: an item is not text.
        """
        out = []
        for path, item in self.nodes(key):
            if isinstance(item.value, bool) or not isinstance(item.value, str | int | float):
                shown = "a secret value" if secret else describe(item)
                raise ConfigError(
                    f"expected text, got {shown}", file=self.file, line=item.line, path=path
                )
            out.append(str(item.value))
        return tuple(out)

    def section(
        self,
        key: str,
        known: Collection[str],
        *,
        aliases: Mapping[str, str] | None = None,
        open_keys: bool = False,
    ) -> Section | None:
        """The nested mapping at ``key``, or None when it is not set.

        Raises:
            ConfigError: see :class:`Section`.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return None
        return Section(
            node,
            self.path_of(key),
            self.file,
            known,
            aliases=aliases,
            open_keys=open_keys,
            line=self.line_of(key),
        )

    def text_mapping(self, key: str) -> dict[str, str]:
        """A mapping of names to text (HTTP headers).

        Raises:
            ConfigError: the value is not a mapping or a value is a list or mapping.
        """
        node = self.get(key)
        if node is None or node.value is None:
            return {}
        inner = Section(node, self.path_of(key), self.file, (), open_keys=True)
        return {name: str(inner.text_of(name)) for name in inner.extras}

    def text_of(self, extra_key: str) -> str:
        """The text value of an open (extra) key.

        Raises:
            ConfigError: the value is not text.
        """
        node = self.extras[extra_key]
        if isinstance(node.value, bool) or not isinstance(node.value, str | int | float):
            raise ConfigError(
                f"expected text, got {describe(node)}",
                file=self.file,
                line=node.line,
                path=key_path(self.path, extra_key),
            )
        return str(node.value)


def parse_int(value: Any) -> int | None:
    """``value`` as an int when it is one (or numeric text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def check_range(
    section: Section, key: str, value: float, minimum: float | None, maximum: float | None
) -> None:
    """Raise a ConfigError at ``key`` unless ``minimum <= value <= maximum``."""
    if minimum is not None and value < minimum:
        raise section.error(key, f"must be at least {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise section.error(key, f"must be at most {maximum:g}, got {value:g}")


def _unknown_hint(key: str, known: Collection[str]) -> str:
    hint = closest(key, known)
    if hint:
        return f" (did you mean {hint}?)"
    if known and len(known) <= 12:
        return f" (known keys: {', '.join(sorted(known))})"
    return ""
