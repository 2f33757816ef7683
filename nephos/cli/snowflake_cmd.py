"""``nephos snowflake init``: create the Snowflake schema, procedures and tasks (or print them)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nephos.cli.config_cmd import ConfigOption, load_cli_config

if TYPE_CHECKING:
    from nephos.deploy.snowflake_setup import InitScript

__all__ = ["register"]


def _options(config: str | None, connection: str | None) -> dict[str, Any]:
    cfg = load_cli_config(config)
    warehouse = cfg.storage.warehouse
    options = dict(warehouse.options) if warehouse.backend == "snowflake" else {}
    if connection:
        options["connection"] = connection
    return options


async def _apply(settings: dict[str, Any], script: InitScript) -> int:
    from nephos.deploy.snowflake_setup import apply_script
    from nephos.warehouse.snowflake import SnowflakeWarehouse

    warehouse = SnowflakeWarehouse(settings, create_schema=False)
    await warehouse.open()
    try:
        return await apply_script(
            warehouse,
            script.statements(),
            progress=lambda head: typer.echo(f"  ok  {head}", err=True),
        )
    finally:
        await warehouse.close()


def init(
    config: ConfigOption = None,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            help="A connection in ~/.snowflake/connections.toml (default: the config's, "
            "then SNOWFLAKE_DEFAULT_CONNECTION_NAME, then default_connection_name).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the SQL instead of running it.")
    ] = False,
    with_ml: Annotated[
        bool,
        typer.Option("--with-ml", help="Also create SNOWFLAKE.ML anomaly and forecast models."),
    ] = False,
    schema_only: Annotated[
        bool,
        typer.Option("--schema-only", help="Only the tables: no procedures, tasks or models."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Create the schema, and the procedures and tasks that run analytics in Snowflake."""
    # Imported here so that `nephos --help` does not load the Snowflake setup.
    from nephos.deploy.snowflake_setup import SCHEDULES, InitScript, SetupOptions, build_script
    from nephos.warehouse.snowflake_conn import resolve_connection
    from nephos.warehouse.sql_loader import SqlLibrary

    options = _options(config, connection)
    settings = resolve_connection(options, require_account=not dry_run)
    setup = SetupOptions.from_settings(
        {**settings, "task_warehouse": options.get("task_warehouse")}, with_ml=with_ml
    )
    script = build_script(SqlLibrary(), setup)
    if schema_only:
        script = InitScript(schema=script.schema)
    if dry_run:
        typer.echo(script.render(), nl=False)
        return
    count = asyncio.run(_apply(settings, script))
    tasks = [] if schema_only else [s.task for s in SCHEDULES]
    if with_ml and not schema_only:
        tasks += [s.ml_task for s in SCHEDULES]
    if as_json:
        typer.echo(json.dumps({"statements": count, "schema": setup.schema, "tasks": tasks}))
        return
    where = setup.schema or "the connection's schema"
    done = f"ran {count} statements in {where}"
    typer.echo(done + (f"; tasks resumed: {', '.join(tasks)}" if tasks else ""))


def register(app: typer.Typer) -> None:
    """Add ``nephos snowflake init`` to ``app``."""
    group = typer.Typer(help="Snowflake: schema, procedures and tasks.", no_args_is_help=True)
    group.command("init")(init)
    app.add_typer(group, name="snowflake")
