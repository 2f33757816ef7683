"""The one source of warehouse SQL: Snowflake-dialect files, loaded and bound for either backend.

The files live in ``snowflake/`` at the top of the repository (``ddl/``, ``analytics/``,
``procedures/``, ``tasks/``, ``ml/``); the package ships an identical copy in
``nephos/warehouse/sql/`` (``tests/test_warehouse_sql_files.py`` keeps them equal, and
``scripts/sync_warehouse_sql.py`` copies them). A statement names its binds ``:name``; for
Snowflake the text is sent as written with each bind turned into a qmark ``?``, for DuckDB it
is transpiled by sqlglot (read="snowflake", write="duckdb") with the same ``?`` order. Nothing
here connects to a database.

An analytics file holds one statement, headed by comment lines::

    -- What the statement returns, in words.
    -- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
    -- @alerts anomaly

``@param`` declares a bind (its type, and the default the scheduled Snowflake procedures use);
``@alerts SOURCE`` makes the scheduled procedure of that source record each row as an alert;
``@example NAME = SQL`` gives a bind without a default a value for the parity tests.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from nephos.errors import WarehouseError

__all__ = [
    "Bound",
    "Param",
    "SqlLibrary",
    "Statement",
    "bind_named",
    "bind_positional_duckdb",
    "bind_value",
    "split_statements",
    "sql_root",
    "substitute_binds",
    "to_duckdb",
]

_MARK = "nephos_bind_"
_POS = "nephos_pos_"
_MARK_RE = re.compile(r"[:$@]?" + _MARK + r"(\d+)_")
_PARAM_RE = re.compile(r"^--\s*@param\s+(\w+)\s+([A-Za-z_][\w(), ]*?)\s*(?:=\s*(.+?))?\s*$")
_ALERTS_RE = re.compile(r"^--\s*@alerts\s+(\w+)\s*$")
_EXAMPLE_RE = re.compile(r"^--\s*@example\s+(\w+)\s*=\s*(.+?)\s*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def sql_root() -> Path:
    """The directory holding ``ddl/``, ``analytics/`` and the rest.

    ``$NEPHOS_SQL_DIR`` when set (a directory laid out like ``snowflake/``, for site-specific
    statements). Otherwise, in a source checkout (an editable install), the repository's
    ``snowflake/``, so a statement added there is found at once; in an installed package, the
    shipped copy.
    """
    override = os.environ.get("NEPHOS_SQL_DIR")
    if override:
        return Path(override).expanduser()
    package = Path(str(resources.files("nephos.warehouse") / "sql"))
    checkout = Path(__file__).resolve().parents[2]
    source = checkout / "snowflake"
    if (checkout / "pyproject.toml").is_file() and (source / "ddl").is_dir():
        return source
    return package


def split_statements(text: str) -> list[str]:
    """Split a script into statements at a ``;`` that ends a line, outside ``$$`` bodies.

    Comment-only chunks are dropped; each statement keeps its leading comments.
    """
    statements: list[str] = []
    current: list[str] = []
    in_body = False
    for line in text.splitlines():
        current.append(line)
        if line.count("$$") % 2 == 1:
            in_body = not in_body
        if not in_body and line.rstrip().endswith(";"):
            chunk = "\n".join(current).strip()
            current = []
            if _has_code(chunk):
                statements.append(chunk)
    rest = "\n".join(current).strip()
    if _has_code(rest):
        statements.append(rest)
    return statements


def _has_code(chunk: str) -> bool:
    return any(ln.strip() and not ln.strip().startswith("--") for ln in chunk.splitlines())


@dataclass(frozen=True, slots=True)
class Param:
    """A bind declared by ``-- @param NAME TYPE [= DEFAULT]``."""

    name: str
    type: str
    default: str | None = None  # Snowflake SQL, used by the scheduled procedures


@dataclass(frozen=True, slots=True)
class Bound:
    """A statement ready to run: SQL with qmark ``?`` binds and their values in order."""

    sql: str
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    """One named analytics statement, as written (Snowflake dialect)."""

    name: str
    sql: str
    description: str
    params: tuple[Param, ...]
    alerts: str | None  # the alert source of its rows in the scheduled procedures
    examples: Mapping[str, str]  # test values (SQL) for binds without a default
    binds: tuple[str, ...]  # the ``:name`` binds in textual order (repeats included)
    snowflake_sql: str  # the text with every ``:name`` bind as ``?``

    def bind(self, params: Mapping[str, Any] | None) -> Bound:
        """The Snowflake-dialect SQL and its positional args.

        Raises:
            WarehouseError: a bind has no value, or a value names no bind of the statement.
        """
        return Bound(self.snowflake_sql, _args(self.name, self.binds, params or {}))

    def bind_duckdb(self, params: Mapping[str, Any] | None) -> Bound:
        """The statement transpiled to DuckDB and its positional args.

        Raises:
            WarehouseError: as :meth:`bind`, or the statement does not transpile.
        """
        _args(self.name, self.binds, params or {})  # the same checks as for Snowflake
        sql, order = to_duckdb(self.sql)
        values = params or {}
        return Bound(sql, tuple(bind_value(values[n]) for n in order))


def bind_named(sql: str, params: Mapping[str, Any]) -> Bound:
    """Any Snowflake-dialect text with ``:name`` binds as qmark SQL and its args in order.

    Raises:
        WarehouseError: a bind has no value in ``params`` (extra values are ignored).
    """
    spans = _find_binds(sql, "a statement")
    missing = sorted({n for _, _, n in spans} - set(params))
    if missing:
        raise WarehouseError(f"no value for :{', :'.join(missing)}")
    return Bound(_qmarks(sql, spans), tuple(bind_value(params[n]) for _, _, n in spans))


def substitute_binds(sql: str, values: Mapping[str, str]) -> str:
    """``sql`` with each ``:name`` bind replaced by the SQL text ``values[name]``.

    Used to inline parameters where no bind can be passed (the scheduled procedures).

    Raises:
        WarehouseError: a bind has no entry in ``values``.
    """
    spans = _find_binds(sql, "a statement")
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


def _qmarks(sql: str, spans: Sequence[tuple[int, int, str]]) -> str:
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


def _args(name: str, binds: Sequence[str], params: Mapping[str, Any]) -> tuple[Any, ...]:
    missing = sorted(set(binds) - set(params))
    if missing:
        raise WarehouseError(f"statement {name}: no value for :{', :'.join(missing)}")
    unknown = sorted(set(params) - set(binds))
    if unknown:
        raise WarehouseError(
            f"statement {name} has no bind :{', :'.join(unknown)} "
            f"(its binds: {', '.join(':' + b for b in sorted(set(binds))) or 'none'})"
        )
    return tuple(bind_value(params[b]) for b in binds)


def bind_value(value: Any) -> Any:
    """A parameter as both drivers bind it: aware datetimes become naive UTC (TIMESTAMP_NTZ)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _find_binds(sql: str, where: str) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` of each ``:name`` bind, told apart from ``col:path`` access."""
    from sqlglot import TokenType
    from sqlglot.dialects.snowflake import Snowflake
    from sqlglot.errors import SqlglotError

    try:
        tokens = Snowflake().tokenize(sql)
    except SqlglotError as exc:
        raise WarehouseError(f"{where}: does not tokenize as Snowflake SQL: {exc}") from exc
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


def _load_statement(name: str, text: str) -> Statement:
    where = f"snowflake/analytics/{name}.sql"
    chunks = split_statements(text)
    if len(chunks) != 1:
        raise WarehouseError(f"{where}: holds {len(chunks)} statements, expected one")
    sql = chunks[0].rstrip().rstrip(";").rstrip()
    description: list[str] = []
    params: list[Param] = []
    alerts: str | None = None
    examples: dict[str, str] = {}
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        if m := _PARAM_RE.match(stripped):
            params.append(Param(m[1].lower(), m[2].strip().upper(), m[3]))
        elif m := _ALERTS_RE.match(stripped):
            alerts = m[1].lower()
        elif m := _EXAMPLE_RE.match(stripped):
            examples[m[1].lower()] = m[2]
        else:
            description.append(stripped.lstrip("-").strip())
    spans = _find_binds(sql, where)
    binds = tuple(n for _, _, n in spans)
    undeclared = sorted(set(binds) - {p.name for p in params})
    if params and undeclared:
        raise WarehouseError(f"{where}: binds without an @param line: {', '.join(undeclared)}")
    return Statement(
        name=name,
        sql=sql,
        description=" ".join(d for d in description if d),
        params=tuple(params),
        alerts=alerts,
        examples=examples,
        binds=binds,
        snowflake_sql=_qmarks(sql, spans),
    )


@functools.lru_cache(maxsize=512)
def to_duckdb(sql: str) -> tuple[str, tuple[str, ...]]:
    """Snowflake-dialect SQL as DuckDB SQL with every bind as ``?``, and what each ``?`` is.

    The second item names, in the order of the DuckDB text, each bind: ``name`` for a
    ``:name`` bind, the 0-based index as digits for a positional ``?``. Transpiling may move or
    repeat a bind, so callers build their args from it. Cached per text.

    Raises:
        WarehouseError: sqlglot cannot parse or transpile the statement.
    """
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
        raise WarehouseError(f"cannot transpile to DuckDB: {exc}") from exc
    order = tuple(names[int(m[1])] for m in _MARK_RE.finditer(out))
    return _MARK_RE.sub("?", out), order


class SqlLibrary:
    """The statements of one SQL root, loaded lazily and cached."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or sql_root()
        self._statements: dict[str, Statement] = {}
        self._types: dict[str, dict[str, str]] | None = None

    def names(self) -> list[str]:
        """The names of the analytics statements, sorted."""
        folder = self.root / "analytics"
        return sorted(p.stem for p in folder.glob("*.sql")) if folder.is_dir() else []

    def statement(self, name: str) -> Statement:
        """The named analytics statement (``analytics/<name>.sql``).

        Raises:
            WarehouseError: no such statement, or its file is malformed.
        """
        cached = self._statements.get(name)
        if cached is not None:
            return cached
        path = self.root / "analytics" / f"{name}.sql"
        if not _NAME_RE.match(name) or not path.is_file():
            known = ", ".join(self.names()) or "none"
            raise WarehouseError(f"unknown analytics statement {name!r} (known: {known})")
        stmt = _load_statement(name, path.read_text(encoding="utf-8"))
        self._statements[name] = stmt
        return stmt

    def script(self, folder: str) -> list[str]:
        """Every statement of ``<folder>/*.sql``, files in name order, as written."""
        out: list[str] = []
        for path in sorted((self.root / folder).glob("*.sql")):
            out.extend(split_statements(path.read_text(encoding="utf-8")))
        return out

    def text(self, relative: str) -> str:
        """The text of one file under the root (a template such as ``tasks/child_task.sql``).

        Raises:
            WarehouseError: the file does not exist.
        """
        path = self.root / relative
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WarehouseError(f"cannot read SQL file {path}: {exc.strerror or exc}") from exc

    def ddl(self) -> list[str]:
        """The schema: the statements of ``ddl/*.sql`` in file order (Snowflake dialect)."""
        return self.script("ddl")

    def column_types(self) -> dict[str, dict[str, str]]:
        """Each table of the DDL: its columns in order, with their Snowflake types.

        Raises:
            WarehouseError: a DDL statement does not parse.
        """
        if self._types is None:
            import sqlglot
            from sqlglot import exp
            from sqlglot.errors import SqlglotError

            types: dict[str, dict[str, str]] = {}
            for statement in self.ddl():
                try:
                    tree = sqlglot.parse_one(statement, read="snowflake")
                except SqlglotError as exc:
                    raise WarehouseError(f"snowflake/ddl: does not parse: {exc}") from exc
                schema = tree.this if isinstance(tree, exp.Create) else None
                if isinstance(schema, exp.Schema) and isinstance(schema.this, exp.Table):
                    types[schema.this.name.lower()] = {
                        col.name.lower(): col.args["kind"].sql(dialect="snowflake")
                        for col in schema.expressions
                        if isinstance(col, exp.ColumnDef)
                    }
            self._types = types
        return self._types
