"""``nephos deploy`` and ``nephos destroy``: the AWS stack, with a plan, a question and progress.

Thin: the flow is :mod:`nephos.deploy.aws_deploy`; this module parses the flags and draws what
it reports with Rich (the plan table, stack events as they arrive, failures, outputs). Without
``--yes`` it asks before changing anything, and refuses when there is no terminal to ask on.
With a DynamoDB hot store in the config, its ``region``, ``profile`` and ``table_prefix`` are
the defaults, so that the stack holds the tables the config reads.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nephos.cli.common import print_json
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.errors import UsageError

if TYPE_CHECKING:
    from nephos.config.types import Config
    from nephos.deploy.aws_deploy import DeployResult
    from nephos.deploy.aws_stack import Failure, Plan, StackEvent

__all__ = ["RichProgress", "config_defaults", "parse_parameters", "register", "result_json"]

StackOption = Annotated[
    str, typer.Option("--stack-name", help="The CloudFormation stack.", envvar="NEPHOS_STACK")
]
RegionOption = Annotated[
    str | None,
    typer.Option("--region", help="The AWS region (default: the profile's).", show_default=False),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", help="A named AWS profile.", show_default=False),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

_ACTION_LOOK = {
    "Add": "[green]+ add[/]",
    "Modify": "[yellow]~ modify[/]",
    "Remove": "[red]- remove[/]",
}


def parse_parameters(values: list[str]) -> dict[str, str]:
    """``K=V`` strings as a mapping.

    Raises:
        UsageError: a value has no ``=`` or an empty name.
    """
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--parameter {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def config_defaults(config: Config) -> tuple[str | None, str | None, dict[str, str]]:
    """The region, profile and template parameters that the config implies.

    Only a DynamoDB hot store says anything about AWS: its ``region`` and ``profile``, and its
    ``table_prefix`` as the template's ``TablePrefix`` (the stack then creates the tables the
    config reads). Anything else implies nothing.
    """
    hot = config.storage.hot
    if hot.backend != "dynamodb":
        return None, None, {}

    def text(key: str) -> str | None:
        value = hot.options.get(key)
        return value if isinstance(value, str) and value else None

    prefix = text("table_prefix")
    return text("region"), text("profile"), {"TablePrefix": prefix} if prefix else {}


def _status_style(status: str) -> str:
    if "FAILED" in status or "ROLLBACK" in status:
        return "red"
    if status.endswith("_COMPLETE"):
        return "green"
    return "yellow"


class RichProgress:
    """Draws a deploy's progress on a console; asks on stdin unless ``assume_yes``."""

    def __init__(self, console: Console, *, assume_yes: bool) -> None:
        self.console = console
        self.assume_yes = assume_yes

    def step(self, message: str) -> None:
        """One dimmed bullet line."""
        self.console.print(f"[dim]•[/] {escape(message)}")

    def plan(self, plan: Plan) -> None:
        """The plan as a table, then its counts."""
        table = Table(title=f"Plan for stack {escape(plan.stack_name)} ({plan.change_set_type})")
        for column in ("Action", "Logical id", "Type", "Replacement"):
            table.add_column(column)
        for change in plan.changes:
            table.add_row(
                _ACTION_LOOK.get(change.action, escape(change.action)),
                escape(change.logical_id),
                escape(change.resource_type),
                escape(change.replacement or "-"),
            )
        self.console.print(table)
        counts = {a: sum(1 for c in plan.changes if c.action == a) for a in _ACTION_LOOK}
        self.console.print(
            f"{counts['Add']} to add, {counts['Modify']} to modify, {counts['Remove']} to remove"
        )

    def confirm(self, plan: Plan) -> bool:
        """Yes with ``--yes``; else ask on the terminal.

        Raises:
            UsageError: there is no terminal to ask on.
        """
        if self.assume_yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError("no terminal to confirm on: pass --yes to deploy without asking")
        return typer.confirm("Deploy this change set?", default=False)

    def event(self, event: StackEvent) -> None:
        """One event line: time, status (coloured), type, logical id, reason."""
        style = _status_style(event.status)
        reason = f"  {escape(event.reason)}" if event.reason else ""
        self.console.print(
            f"{event.ts:%H:%M:%S}  [{style}]{escape(event.status):<28}[/] "
            f"{escape(event.resource_type):<36} {escape(event.logical_id)}{reason}"
        )

    def failed(self, status: str, failed: list[Failure]) -> None:
        """The failed resources as a table, then the stack's status."""
        table = Table(title="Failed resources", title_style="bold red")
        for column in ("Logical id", "Type", "Status", "Reason"):
            table.add_column(column)
        for failure in failed:
            table.add_row(
                escape(failure.logical_id),
                escape(failure.resource_type),
                escape(failure.status),
                escape(failure.reason),
            )
        self.console.print(table)
        self.console.print(f"stack status: [{_status_style(status)}]{escape(status)}[/]")


def _print_result(console: Console, result: DeployResult) -> None:
    if result.outcome in ("dry-run", "declined"):
        word = "dry run" if result.outcome == "dry-run" else "declined"
        console.print(f"{word}: stack {escape(result.stack_name)} was not changed")
        return
    if result.outcome == "no-changes":
        console.print(f"No changes to deploy. Stack {escape(result.stack_name)} is up to date.")
    else:
        console.print(f"[green]Stack {escape(result.stack_name)} deployed[/]")
    table = Table(title="Outputs")
    table.add_column("Key")
    table.add_column("Value")
    for key, value in sorted(result.outputs.items()):
        table.add_row(escape(key), escape(value))
    console.print(table)
    if result.saved_to is not None:
        console.print(f"saved to {escape(str(result.saved_to))} (nephos watch and tail read it)")


def deploy_command(
    config: ConfigOption = None,
    stack_name: StackOption = "nephos",
    region: RegionOption = None,
    profile: ProfileOption = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option("--parameter", "-p", help="A template parameter, KEY=VALUE (repeatable)."),
    ] = None,
    yes: YesOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan, then delete the change set.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the result as JSON; progress goes to stderr."),
    ] = False,
) -> None:
    """Deploy nephos to AWS: package, upload, plan, confirm, execute, save the outputs."""
    from nephos.deploy.aws_deploy import DeployRequest, deploy

    parameters = parse_parameters(parameter or [])
    cfg_region, cfg_profile, cfg_parameters = config_defaults(load_cli_config(config))
    request = DeployRequest(
        stack_name=stack_name,
        region=region or cfg_region,
        profile=profile or cfg_profile,
        parameters={**cfg_parameters, **parameters},
        dry_run=dry_run,
    )
    wheels = os.environ.get("NEPHOS_LAMBDA_WHEELS")
    if wheels is not None:  # "" when a layer provides them
        request = replace(request, wheels=tuple(w.strip() for w in wheels.split(",") if w.strip()))
    console = Console(highlight=False, stderr=as_json)
    result = deploy(request, RichProgress(console, assume_yes=yes))
    if as_json:
        print_json(result_json(result))
    else:
        _print_result(console, result)


def result_json(result: DeployResult) -> dict[str, object]:
    """A deploy's result as JSON: outcome, stack, region, plan, outputs, where they were saved."""
    plan = result.plan
    return {
        "outcome": result.outcome,
        "stack_name": result.stack_name,
        "region": result.region,
        "change_set": plan.change_set_arn if plan else None,
        "changes": [
            {
                "action": c.action,
                "logical_id": c.logical_id,
                "type": c.resource_type,
                "replacement": c.replacement,
            }
            for c in (plan.changes if plan else ())
        ],
        "outputs": dict(result.outputs),
        "saved_to": str(result.saved_to) if result.saved_to else None,
    }


def destroy_command(
    config: ConfigOption = None,
    stack_name: StackOption = "nephos",
    region: RegionOption = None,
    profile: ProfileOption = None,
    yes: YesOption = False,
    delete_bucket: Annotated[
        bool,
        typer.Option(
            "--delete-bucket",
            help="Also empty and delete the artifact bucket (shared by the region's stacks).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the result as JSON; progress goes to stderr."),
    ] = False,
) -> None:
    """Delete the nephos stack from AWS, with progress."""
    from nephos.deploy.aws_destroy import destroy
    from nephos.deploy.aws_stack import session_for

    cfg_region, cfg_profile, _ = config_defaults(load_cli_config(config))
    console = Console(highlight=False, stderr=as_json)
    progress = RichProgress(console, assume_yes=yes)
    asked: list[bool] = []  # the answer, once asked: a stack was there to delete

    def confirm(name: str) -> bool:
        if yes:
            answer = True
        elif not sys.stdin.isatty():
            raise UsageError("no terminal to confirm on: pass --yes to destroy without asking")
        else:
            answer = typer.confirm(f"Delete stack {name} and every table in it?", default=False)
        asked.append(answer)
        return answer

    session = session_for(region or cfg_region, profile or cfg_profile)
    deleted = destroy(
        stack_name, progress, confirm=confirm, delete_bucket=delete_bucket, session=session
    )
    if as_json:
        outcome = "destroyed" if deleted else "declined" if asked else "no-stack"
        print_json(
            {
                "outcome": outcome,
                "stack_name": stack_name,
                "region": session.region_name,
                "bucket_deleted": delete_bucket and outcome != "declined",
            }
        )


def register(app: typer.Typer) -> None:
    """Add ``deploy`` and ``destroy`` to ``app``."""
    app.command("deploy")(deploy_command)
    app.command("destroy")(destroy_command)
