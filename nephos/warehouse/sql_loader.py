"""The one source of warehouse SQL: Snowflake-dialect files, loaded and bound for either backend.

The files live in ``snowflake/`` at the top of the repository (``ddl/``, ``analytics/``,
``procedures/``, ``tasks/``, ``ml/``); ``nephos/warehouse/sql`` is a link to that directory,
which a built wheel turns into the files themselves, so an installed package ships them. A
statement names its binds ``:name``; for
Snowflake the text is sent as written with each bind turned into a qmark ``?``, for DuckDB it
is transpiled by sqlglot (:mod:`nephos.warehouse.sql_binds`). Nothing here connects to a
database.

An analytics file holds one statement, headed by comment lines::

    -- What the statement returns, in words.
    -- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
    -- @alerts anomaly

``@param`` declares a bind (its type, and the default the scheduled Snowflake procedures use);
``@alerts SOURCE`` makes the scheduled procedure of that source record each row as an alert;
``@example NAME = SQL`` gives a bind without a default a value for the parity tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from nephos.errors import WarehouseError
from nephos.warehouse.sql_binds import (
    Bound,
    bind_value,
    find_binds,
    one_line,
    qmarks,
    to_duckdb,
)

__all__ = [
    "Param",
    "SqlLibrary",
    "Statement",
    "split_statements",
    "sql_root",
]

_PARAM_RE = re.compile(r"^--\s*@param\s+(\w+)\s+([A-Za-z_][\w(), ]*?)\s*(?:=\s*(.+?))?\s*$")
_ALERTS_RE = re.compile(r"^--\s*@alerts\s+(\w+)\s*$")
_EXAMPLE_RE = re.compile(r"^--\s*@example\s+(\w+)\s*=\s*(.+?)\s*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def sql_root() -> Path:
    """The directory holding ``ddl/``, ``analytics/`` and the rest.

    ``$NEPHOS_SQL_DIR`` when set (a directory laid out like ``snowflake/``, for site-specific
    statements). Otherwise, in a source checkout (an editable install), the repository's
    ``snowflake/``; in an installed package, the shipped files.
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
    spans = find_binds(sql, where)
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
        snowflake_sql=qmarks(sql, spans),
    )


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
                    raise WarehouseError(f"snowflake/ddl: does not parse: {one_line(exc)}") from exc
                schema = tree.this if isinstance(tree, exp.Create) else None
                if isinstance(schema, exp.Schema) and isinstance(schema.this, exp.Table):
                    types[schema.this.name.lower()] = {
                        col.name.lower(): col.args["kind"].sql(dialect="snowflake")
                        for col in schema.expressions
                        if isinstance(col, exp.ColumnDef)
                    }
            self._types = types
        return self._types
