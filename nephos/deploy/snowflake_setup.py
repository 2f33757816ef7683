"""The script of ``nephos snowflake init``: schema, procedures, tasks and optional ML models.

Everything comes from the SQL files under ``snowflake/``: the DDL as is; one Snowflake
Scripting procedure per scheduled alert source, which runs every analytics statement marked
``-- @alerts <source>`` with its ``@param`` defaults inlined and records each row in
``analytics_alerts``; the tasks that call them (anomaly detection every 15 minutes, forecasts
every 12 hours); and, with ML, the SNOWFLAKE.ML models, their procedures and child tasks.
:func:`build_script` makes the text (``--dry-run`` prints it); :func:`apply_script` runs it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nephos.errors import ConfigError, WarehouseError
from nephos.warehouse.snowflake import SnowflakeWarehouse
from nephos.warehouse.sql_binds import substitute_binds
from nephos.warehouse.sql_loader import SqlLibrary, Statement

__all__ = [
    "SCHEDULES",
    "InitScript",
    "SetupOptions",
    "apply_script",
    "build_script",
]


@dataclass(frozen=True, slots=True)
class _Schedule:
    source: str
    procedure: str
    task: str
    schedule: str
    comment: str
    ml_procedure: str
    ml_task: str


SCHEDULES = (
    _Schedule(
        source="anomaly",
        procedure="nephos_detect_anomalies",
        task="nephos_detect_anomalies_task",
        schedule="15 MINUTES",
        comment="nephos: anomaly detection every 15 minutes",
        ml_procedure="nephos_ml_detect_anomalies",
        ml_task="nephos_ml_detect_anomalies_task",
    ),
    _Schedule(
        source="forecast",
        procedure="nephos_run_forecasts",
        task="nephos_forecast_task",
        schedule="USING CRON 0 */12 * * * UTC",
        comment="nephos: failure forecasts every 12 hours",
        ml_procedure="nephos_ml_forecast",
        ml_task="nephos_ml_forecast_task",
    ),
)
"""The scheduled alert sources: their procedure, task and schedule."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True, slots=True)
class SetupOptions:
    """What the script depends on besides the SQL files."""

    schema: str | None = None  # created and used first; ``db.schema`` or ``schema``
    task_warehouse: str | None = None  # None: serverless tasks
    with_ml: bool = False

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, with_ml: bool) -> SetupOptions:
        """Options from connection settings (``database``, ``schema``, ``task_warehouse``).

        Raises:
            ConfigError: a name is not a plain Snowflake identifier.
        """
        schema = settings.get("schema")
        if schema and settings.get("database") and "." not in str(schema):
            schema = f"{settings['database']}.{schema}"
        return cls(
            schema=_identifier(schema, "schema"),
            task_warehouse=_identifier(settings.get("task_warehouse"), "task_warehouse"),
            with_ml=with_ml,
        )


def _identifier(value: Any, key: str) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if not _IDENTIFIER.match(text):
        raise ConfigError(
            f"{text!r} is not a plain Snowflake identifier (letters, digits, _ and $)",
            path=f"storage.warehouse.options.{key}",
        )
    return text


@dataclass(frozen=True, slots=True)
class InitScript:
    """The statements of the init script, by section, in the order they run."""

    schema: list[str] = field(default_factory=list)
    procedures: list[str] = field(default_factory=list)
    ml: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[str]]]:
        """``(title, statements)`` for each non-empty section."""
        named = [
            ("schema: history tables", self.schema),
            ("procedures: scheduled analytics", self.procedures),
            ("SNOWFLAKE.ML: views, models, procedures", self.ml),
            ("tasks", self.tasks),
        ]
        return [(title, statements) for title, statements in named if statements]

    def statements(self) -> list[str]:
        """Every statement, in order."""
        return [s for _, statements in self.sections() for s in statements]

    def render(self) -> str:
        """The whole script as text, with a heading comment per section."""
        out = ["-- nephos snowflake init: generated from snowflake/ (do not edit by hand)"]
        for title, statements in self.sections():
            out.append(f"\n-- ===== {title}\n")
            out.append("\n\n".join(statements))
        return "\n".join(out) + "\n"


def _render(template: str, values: Mapping[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        key = match[1]
        if key not in values:
            raise WarehouseError(f"SQL template needs {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(fill, template).strip()


def inline_params(stmt: Statement) -> str:
    """The statement with each bind replaced by its ``@param`` default, cast to its type,
    and ``:now`` by the procedure's ``:run_at`` (procedures have no binds to pass).

    Raises:
        WarehouseError: a bind has no default, or the text would break the procedure body.
    """
    exprs: dict[str, str] = {"now": ":run_at"}
    for param in stmt.params:
        if param.name == "now":
            continue
        if param.default is None:
            raise WarehouseError(
                f"statement {stmt.name} is marked @alerts but :{param.name} has no default "
                "for the scheduled procedure"
            )
        exprs[param.name] = f"CAST({substitute_binds(param.default, exprs)} AS {param.type})"
    if "$$" in stmt.sql:
        raise WarehouseError(f"statement {stmt.name} contains $$, which ends a procedure body")
    return substitute_binds(stmt.sql, exprs)


def _procedure(library: SqlLibrary, schedule: _Schedule) -> str:
    steps: list[str] = []
    step = library.text("procedures/alert_statement_step.sql")
    for name in library.names():
        stmt = library.statement(name)
        if stmt.alerts != schedule.source:
            continue
        code = _without_header(inline_params(stmt))
        body = "\n".join(f"            {line}" if line else "" for line in code.splitlines())
        values = {
            "statement": stmt.name,
            "description": _headline(stmt.description) or stmt.name,
            "source": schedule.source,
            "sql": body,
        }
        steps.append("    " + _render(step, values))
    values = {
        "procedure": schedule.procedure,
        "task": schedule.task,
        "source": schedule.source,
        "steps": "\n\n".join(steps) if steps else "    -- no statement is marked for this source",
    }
    return _render(library.text("procedures/run_alert_statements.sql"), values)


def build_script(library: SqlLibrary, options: SetupOptions) -> InitScript:
    """The init script for ``options`` from the SQL files of ``library``.

    Raises:
        WarehouseError: a SQL file is missing or malformed, or a marked statement cannot be
            scheduled (a bind without a default).
    """
    script = InitScript()
    if options.schema:
        script.schema.append(f"CREATE SCHEMA IF NOT EXISTS {options.schema};")
        script.schema.append(f"USE SCHEMA {options.schema};")
    script.schema.extend(library.ddl())
    for schedule in SCHEDULES:
        script.procedures.append(_procedure(library, schedule))
    if options.with_ml:
        script.ml.extend(library.script("ml"))
    warehouse = (
        f"WAREHOUSE = {options.task_warehouse}"
        if options.task_warehouse
        else "USER_TASK_MANAGED_INITIAL_WAREHOUSE_SIZE = 'XSMALL'"
    )
    roots, children = [], []
    for schedule in SCHEDULES:
        # A root task must be suspended before its graph is replaced.
        script.tasks.append(f"ALTER TASK IF EXISTS {schedule.task} SUSPEND;")
    for schedule in SCHEDULES:
        values = {
            "task": schedule.task,
            "procedure": schedule.procedure,
            "schedule": schedule.schedule,
            "comment": schedule.comment,
            "warehouse": warehouse,
        }
        script.tasks.append(_render(library.text("tasks/scheduled_task.sql"), values))
        roots.append(schedule.task)
        if options.with_ml:
            values = {
                "task": schedule.ml_task,
                "procedure": schedule.ml_procedure,
                "after": schedule.task,
                "comment": f"nephos: SNOWFLAKE.ML {schedule.source}",
                "warehouse": warehouse,
            }
            script.tasks.append(_render(library.text("tasks/child_task.sql"), values))
            children.append(schedule.ml_task)
    # Tasks are created suspended; children are resumed before their root.
    script.tasks.extend(f"ALTER TASK {task} RESUME;" for task in [*children, *roots])
    return script


async def apply_script(
    warehouse: SnowflakeWarehouse,
    statements: list[str],
    *,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Run ``statements`` in order on an open warehouse; the number run.

    Raises:
        WarehouseError: a statement failed (the message names which one).
    """
    for n, statement in enumerate(statements, start=1):
        head = _first_code_line(statement)
        try:
            await warehouse.execute(statement)
        except WarehouseError as exc:
            raise WarehouseError(f"statement {n} ({head}): {exc}") from exc
        if progress is not None:
            progress(head)
    return len(statements)


def _without_header(sql: str) -> str:
    """``sql`` without its leading comment lines (the header is summarised once above it)."""
    lines = sql.splitlines()
    while lines and (not lines[0].strip() or lines[0].strip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


def _headline(description: str, limit: int = 90) -> str:
    """The first sentence of a description, cut to ``limit`` characters."""
    first = description.split(". ")[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 3].rstrip() + "..."


def _first_code_line(statement: str) -> str:
    for line in statement.splitlines():
        if line.strip() and not line.strip().startswith("--"):
            return line.strip()[:80]
    return statement[:80]
