"""The ``nephos`` command: the Typer app, its command groups, and the one error path.

Commands live one group per module in this package, each exposing ``register(app)``. Every
expected failure is a NephosError: it is printed as one line on stderr and the process exits
with the error's code (3 usage or configuration, 4 backend unreachable). Usage errors from the
command line itself also exit 3.
"""

from __future__ import annotations

import importlib
import sys

import click
import typer

from nephos import __version__
from nephos.errors import NephosError

__all__ = ["app", "main"]

COMMAND_MODULES = (
    "nephos.cli.config_cmd",
    "nephos.cli.sentinel_cmd",
    "nephos.cli.status_cmd",
    "nephos.cli.alerts_cmd",
    "nephos.cli.demo_cmd",
    "nephos.cli.stream_cmd",
    "nephos.cli.watch_cmd",
    "nephos.cli.etl_cmd",
    "nephos.cli.predict_cmd",
    "nephos.cli.inventory_cmd",
    "nephos.cli.anomalies_cmd",
    "nephos.cli.snowflake_cmd",
    "nephos.cli.agent_cmd",
    "nephos.cli.summary_cmd",
    "nephos.cli.explain_cmd",
    "nephos.cli.report_cmd",
    "nephos.cli.trend_cmd",
    "nephos.cli.deploy_cmd",
)

app = typer.Typer(
    name="nephos",
    help="Watch infrastructure across clouds from one terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nephos {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Watch infrastructure across clouds from one terminal."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the documented code."""
    try:
        rv = app(args=argv, prog_name="nephos", standalone_mode=False)
    except NephosError as exc:
        print(f"nephos: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        print("nephos: aborted", file=sys.stderr)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(3 if isinstance(exc, click.UsageError) else exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
