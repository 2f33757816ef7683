"""Binds and dialects: ``:name`` binds found and turned into qmarks, and Snowflake SQL
transpiled to DuckDB with sqlglot (what :mod:`nephos.warehouse.sql_loader` statements use).

A bind is a colon right before a name that does not itself follow a name, ``)`` or ``]``
(those are ``col:path`` access). Nothing here reads files or connects to a database.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nephos.errors import WarehouseError
from nephos.warehouse.sql_cache import cached

__all__ = [
    "Bound",
    "bind_named",
    "bind_positional_duckdb",
    "bind_value",
    "find_binds",
    "one_line",
    "qmarks",
    "substitute_binds",
    "to_duckdb",
]

_MARK = "nephos_bind_"
_POS = "nephos_pos_"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MARK_RE = re.compile(r"[:$@]?" + _MARK + r"(\d+)_")


@dataclass(frozen=True, slots=True)
class Bound:
    """A statement ready to run: SQL with qmark ``?`` binds and their values in order."""

    sql: str
    args: tuple[Any, ...]


def bind_named(sql: str, params: Mapping[str, Any]) -> Bound:
    """Any Snowflake-dialect text with ``:name`` binds as qmark SQL and its args in order.

    Raises:
        WarehouseError: a bind has no value in ``params`` (extra values are ignored).
    """
    spans = find_binds(sql, "a statement")
    missing = sorted({n for _, _, n in spans} - set(params))
    if missing:
        raise WarehouseError(f"no value for :{', :'.join(missing)}")
    return Bound(qmarks(sql, spans), tuple(bind_value(params[n]) for _, _, n in spans))


def substitute_binds(sql: str, values: Mapping[str, str]) -> str:
    """``sql`` with each ``:name`` bind replaced by the SQL text ``values[name]``.

    Used to inline parameters where no bind can be passed (the scheduled procedures).

    Raises:
        WarehouseError: a bind has no entry in ``values``.
    """
    spans = find_binds(sql, "a statement")
    missing = sorted({n for _, _, n in spans} - set(values))
    if missing:
        raise WarehouseError(f"no SQL for :{', :'.join(missing)}")
    pieces: list[str] = []
    last = 0
    for start, end, name in spans:
        pieces.append(sql[last:start] + values[name])
        last = end
    pieces.append(sql[last:])
    return "".join(pieces)


def qmarks(sql: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """``sql`` with each bind span replaced by ``?``."""
    pieces: list[str] = []
    last = 0
    for start, end, _ in spans:
        pieces.append(sql[last:start] + "?")
        last = end
    pieces.append(sql[last:])
    return "".join(pieces)


def bind_positional_duckdb(sql: str, args: Sequence[Any]) -> Bound:
    """Snowflake-dialect SQL with qmark binds, transpiled to DuckDB with its args reordered.

    Raises:
        WarehouseError: the statement does not transpile, or the args do not match its binds.
    """
    out, order = to_duckdb(sql)
    if any(not n.isdigit() for n in order):
        raise WarehouseError("execute() takes positional ? binds only; use query() for :name")
    wanted = len({int(n) for n in order})
    if wanted != len(args):
        raise WarehouseError(f"the statement has {wanted} ? binds but {len(args)} args were given")
    return Bound(out, tuple(bind_value(args[int(n)]) for n in order))


def bind_value(value: Any) -> Any:
    """A parameter as both drivers bind it: aware datetimes become naive UTC (TIMESTAMP_NTZ)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def find_binds(sql: str, where: str) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` of each ``:name`` bind, told apart from ``col:path`` access.

    The answer is kept on disk (:mod:`nephos.warehouse.sql_cache`), so a later process does
    not import sqlglot to tokenize the same text again.

    Raises:
        WarehouseError: the text does not tokenize as Snowflake SQL.
    """
    return cached(
        "binds",
        sql,
        functools.partial(_find_binds, where=where),
        encode=lambda spans: [list(span) for span in spans],
        decode=_decode_spans,
    )


def _decode_spans(data: Any) -> list[tuple[int, int, str]]:
    spans = [(a, b, n) for a, b, n in data]
    if not all(
        isinstance(a, int) and isinstance(b, int) and isinstance(n, str) for a, b, n in spans
    ):
        raise TypeError("a cached bind of the wrong shape")
    return spans


def _find_binds(sql: str, where: str) -> list[tuple[int, int, str]]:
    from sqlglot import TokenType
    from sqlglot.dialects.snowflake import Snowflake
    from sqlglot.errors import SqlglotError

    try:
        tokens = Snowflake().tokenize(sql)
    except SqlglotError as exc:
        raise WarehouseError(
            f"{where}: does not tokenize as Snowflake SQL: {one_line(exc)}"
        ) from exc
    path_base = {TokenType.VAR, TokenType.IDENTIFIER, TokenType.R_PAREN, TokenType.R_BRACKET}
    found: list[tuple[int, int, str]] = []
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if tok.token_type != TokenType.COLON or nxt.start != tok.end + 1:
            continue
        prev = tokens[i - 1] if i else None
        adjacent = prev is not None and prev.end == tok.start - 1
        if (
            adjacent
            and prev is not None
            and (prev.token_type in path_base or prev.text[-1:].isalnum() or prev.text[-1:] == "_")
        ):
            continue  # data:path, not a bind
        found.append((tok.start, nxt.end + 1, nxt.text.lower()))
    return found


def one_line(exc: Exception) -> str:
    """An error's first line without the terminal colour codes sqlglot puts in it."""
    text = _ANSI.sub("", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@functools.lru_cache(maxsize=512)
def to_duckdb(sql: str) -> tuple[str, tuple[str, ...]]:
    """Snowflake-dialect SQL as DuckDB SQL with every bind as ``?``, and what each ``?`` is.

    The second item names, in the order of the DuckDB text, each bind: ``name`` for a
    ``:name`` bind, the 0-based index as digits for a positional ``?``. Transpiling may move or
    repeat a bind, so callers build their args from it. Cached per text in the process and on
    disk (:mod:`nephos.warehouse.sql_cache`), so a fresh process does not import sqlglot for
    statements an earlier one transpiled.

    Raises:
        WarehouseError: sqlglot cannot parse or transpile the statement.
    """
    return cached(
        "duckdb",
        sql,
        _transpile,
        encode=lambda answer: [answer[0], list(answer[1])],
        decode=_decode_transpiled,
    )


def _decode_transpiled(data: Any) -> tuple[str, tuple[str, ...]]:
    text, order = data
    if not isinstance(text, str) or not all(isinstance(n, str) for n in order):
        raise TypeError("a cached transpilation of the wrong shape")
    return text, tuple(order)


def _transpile(sql: str) -> tuple[str, tuple[str, ...]]:
    import sqlglot
    from sqlglot import TokenType, exp
    from sqlglot.dialects.snowflake import Snowflake
    from sqlglot.errors import SqlglotError

    # Semi-structured columns are JSON in DuckDB (fakesnow maps them the same way).
    json_types = {exp.DataType.Type.VARIANT, exp.DataType.Type.OBJECT, exp.DataType.Type.ARRAY}
    text_types = {exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR}
    try:
        # Positional binds become named ones first, so that their order survives transpiling.
        pieces: list[str] = []
        last = 0
        positions = [t for t in Snowflake().tokenize(sql) if t.token_type == TokenType.PLACEHOLDER]
        for i, tok in enumerate(positions):
            pieces.append(f"{sql[last : tok.start]}:{_POS}{i}")
            last = tok.end + 1
        pieces.append(sql[last:])
        tree = sqlglot.parse_one("".join(pieces), read="snowflake")
        names: list[str] = []

        def mark(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Placeholder):
                name = str(node.this or "").lower()
                if not name:
                    raise WarehouseError("a bind without a name after rewriting positional binds")
                names.append(name.removeprefix(_POS))
                return exp.Placeholder(this=f"{_MARK}{len(names) - 1}_")
            if (
                isinstance(node, exp.Cast)
                and isinstance(node.this, exp.JSONExtract)
                and node.to.this in text_types
            ):
                # Snowflake's data:key::string is the bare text; DuckDB's -> keeps the quotes.
                extract = node.this
                return exp.cast(
                    exp.JSONExtractScalar(this=extract.this, expression=extract.expression),
                    node.to,
                )
            if isinstance(node, exp.DataType) and node.this in json_types:
                return exp.DataType.build("JSON")
            return node

        out = tree.transform(mark).sql(dialect="duckdb")
    except SqlglotError as exc:
        raise WarehouseError(f"cannot transpile to DuckDB: {one_line(exc)}") from exc
    order = tuple(names[int(m[1])] for m in _MARK_RE.finditer(out))
    return _MARK_RE.sub("?", out), order
