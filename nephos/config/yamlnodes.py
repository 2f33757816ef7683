"""YAML text to located nodes: every mapping, list and scalar keeps the line it came from.

Environment references (``${VAR}``, ``${VAR:-default}``, ``$$``) are substituted here, in
scalar values after parsing, so that a value can never change the structure of the document
and comments are never touched. An unquoted scalar is typed again after substitution
(``port: ${PORT}`` gives a number); a quoted one stays text. The schema lives in the loader.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from nephos.errors import ConfigError

__all__ = ["Node", "parse_yaml", "substitute_env"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_TEXT_TAGS = {_STR_TAG, "tag:yaml.org,2002:timestamp"}  # we have no date fields
_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_REFERENCE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
# Aliases let a tiny file expand exponentially ("billion laughs"); no real config comes near.
_MAX_NODES = 200_000


@dataclass(slots=True)
class Node:
    """A parsed value with its 1-based line.

    ``value`` is a ``dict[str, Node]`` for a mapping (keys as written), a ``list[Node]`` for a
    list, or a plain scalar. ``key_lines`` gives the line of each key of a mapping.
    """

    value: Any
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)
    style: str | None = None  # a scalar's YAML style: None (plain), "'", '"', "|" or ">"

    @property
    def is_mapping(self) -> bool:
        """Whether this node is a mapping."""
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        """Whether this node is a list."""
        return isinstance(self.value, list)

    def line_at(self, offset: int) -> int:
        """The line of character ``offset`` of this scalar's text.

        Block scalars start on the line after their indicator; a literal block (``|``) keeps
        its newlines, so the line can be counted exactly.
        """
        if self.style == "|" and isinstance(self.value, str):
            return self.line + 1 + self.value.count("\n", 0, max(offset, 0))
        if self.style in ("|", ">"):
            return self.line + 1
        return self.line

    def plain(self) -> Any:
        """The value as plain dicts, lists and scalars, without lines."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


def substitute_env(text: str, env: Mapping[str, str]) -> str:
    """``text`` with ``${VAR}`` and ``${VAR:-default}`` replaced from ``env``; ``$$`` is ``$``.

    As in a shell, ``:-`` also applies when the variable is set but empty. A ``$`` followed by
    anything else is kept as it is, so regular expressions such as ``^OK$`` need no escaping.

    Args:
        text: the value to substitute.
        env: the environment to read.

    Raises:
        ConfigError: a reference is malformed, or names an unset variable without a default.
    """
    out: list[str] = []
    i = 0
    while (j := text.find("$", i)) >= 0:
        out.append(text[i:j])
        following = text[j + 1 : j + 2]
        if following == "$":
            out.append("$")
            i = j + 2
            continue
        if following != "{":
            out.append("$")
            i = j + 1
            continue
        end = text.find("}", j + 2)
        if end < 0:
            raise ConfigError("unterminated ${ (write $$ for a literal $)")
        body = text[j + 2 : end]
        match = _REFERENCE.fullmatch(body)
        if match is None:
            raise ConfigError(
                f"${{{body}}} is not a variable reference (write ${{NAME}} or ${{NAME:-default}})"
            )
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(
                    f"environment variable {name} is not set "
                    f"(set it, or write ${{{name}:-default}})"
                )
            value = default
        out.append(value)
        i = end + 1
    out.append(text[i:])
    return "".join(out)


def _error_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def parse_yaml(text: str, *, file: str | None, env: Mapping[str, str]) -> Node | None:
    """Parse one YAML document into located nodes, substituting the environment.

    Args:
        text: the document.
        file: how errors name the file.
        env: the environment for ``${VAR}`` references.

    Returns:
        The root node, or None for an empty document.

    Raises:
        ConfigError: a syntax error, a duplicate key, an unsupported tag or a bad reference,
            with its line.
    """
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        return _Builder(loader, file, env).build(root)
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or "cannot be parsed"
        if exc.context and problem.startswith("but "):
            problem = f"{exc.context}, {problem}"  # "expected a single document, but found..."
        if "\\t" in problem or "'\\t'" in str(exc):
            problem += " (YAML indents with spaces, not tabs)"
        elif "<block end>" in problem or "block mapping" in problem:
            problem += " (check the indentation of this line and the one above)"
        raise ConfigError(
            f"YAML syntax error: {problem}", file=file, line=_error_line(exc)
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", file=file) from exc
    finally:
        loader.dispose()


class _Builder:
    """Walks composed YAML nodes into :class:`Node` values."""

    def __init__(self, loader: yaml.SafeLoader, file: str | None, env: Mapping[str, str]):
        self.loader = loader
        self.file = file
        self.env = env
        self.count = 0

    def error(self, message: str, line: int, path: str) -> ConfigError:
        return ConfigError(message, file=self.file, line=line, path=path or None)

    def build(self, node: yaml.Node, path: str = "") -> Node:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > _MAX_NODES:
            raise self.error("document expands to too many values (recursive aliases?)", line, path)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, line, path)
        if isinstance(node, yaml.SequenceNode):
            items = [self.build(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
            return Node(items, line)
        assert isinstance(node, yaml.ScalarNode)
        return Node(self.scalar(node, line, path), line, style=node.style)

    def mapping(self, node: yaml.MappingNode, line: int, path: str) -> Node:
        out = Node({}, line)
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(
                    "a key must be a plain word, not a list or mapping", key_line, path
                )
            key = str(key_node.value)  # as written: `on:` stays "on", not True
            if key in out.value:
                first = out.key_lines[key]
                raise self.error(
                    f"duplicate key (first at line {first})", key_line, _join(path, key)
                )
            out.value[key] = self.build(value_node, _join(path, key))
            out.key_lines[key] = key_line
        # `<<: *defaults` fills in keys that the mapping does not set itself.
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise self.error("<< merges only mappings", source.start_mark.line + 1, path)
                merged = self.mapping(source, source.start_mark.line + 1, path)
                for key, child in merged.value.items():
                    if key not in out.value:
                        out.value[key] = child
                        out.key_lines[key] = merged.key_lines[key]
        return out

    def scalar(self, node: yaml.ScalarNode, line: int, path: str) -> Any:
        plain_style = node.style is None
        if node.tag in _TEXT_TAGS:
            text = str(node.value)
            if "$" not in text:
                return text
            try:
                substituted = substitute_env(text, self.env)
            except ConfigError as exc:
                where = Node(text, line, style=node.style).line_at(text.find("$"))
                raise self.error(exc.message, where, path) from exc
            if not plain_style or substituted == text:
                return substituted
            return self.typed(substituted, line)
        if node.tag in _NUMBER_TAGS and plain_style and ":" in str(node.value):
            # YAML 1.1 reads 12:30 as the base-60 number 750; nobody means that here.
            return str(node.value)
        try:
            return self.loader.construct_object(node)
        except yaml.constructor.ConstructorError as exc:
            raise self.error(f"unsupported value: {exc.problem}", line, path) from exc

    def typed(self, text: str, line: int) -> Any:
        """An unquoted scalar's substituted text, typed as YAML would have typed it."""
        tag: str = self.loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag in _TEXT_TAGS or (tag in _NUMBER_TAGS and ":" in text):
            return text
        scalar = yaml.ScalarNode(tag, text, node_mark(line), node_mark(line))
        return self.loader.construct_object(scalar)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def node_mark(line: int) -> yaml.Mark:
    """A mark for a synthetic node at ``line`` (1-based)."""
    return yaml.Mark("<substituted>", 0, line - 1, 0, "", 0)
