"""The ``nephos`` command: the Typer app, its command groups, and the one error path.

Commands live one group per module in this package, each exposing ``register(app)``; a module
is imported only when one of its commands runs or the commands are listed
(:mod:`nephos.cli.lazy`). Every expected failure is a NephosError: it is printed as one line on
stderr and the process exits with the error's code (3 usage or configuration, 4 backend
unreachable). Usage errors from the command line itself also exit 3. A reader that goes away
early (``nephos status | head``) ends the command quietly with exit 0, as ``cat`` does.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import NoReturn

import click
import typer

from nephos import __version__
from nephos.cli.lazy import lazy_group
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

# Which module registers each command, so that running one imports only its module. A name
# missing here still works, more slowly (tests/test_cli_lazy.py says which to add).
COMMAND_HOMES = {
    "init": "nephos.cli.config_cmd",
    "config": "nephos.cli.config_cmd",
    "sentinel": "nephos.cli.sentinel_cmd",
    "status": "nephos.cli.status_cmd",
    "alerts": "nephos.cli.alerts_cmd",
    "demo": "nephos.cli.demo_cmd",
    "hub": "nephos.cli.stream_cmd",
    "tail": "nephos.cli.stream_cmd",
    "watch": "nephos.cli.watch_cmd",
    "etl": "nephos.cli.etl_cmd",
    "predict": "nephos.cli.predict_cmd",
    "inventory": "nephos.cli.inventory_cmd",
    "anomalies": "nephos.cli.anomalies_cmd",
    "snowflake": "nephos.cli.snowflake_cmd",
    "agent": "nephos.cli.agent_cmd",
    "summary": "nephos.cli.summary_cmd",
    "explain-alert": "nephos.cli.explain_cmd",
    "report": "nephos.cli.report_cmd",
    "trend": "nephos.cli.trend_cmd",
    "deploy": "nephos.cli.deploy_cmd",
    "destroy": "nephos.cli.deploy_cmd",
}

app = typer.Typer(
    name="nephos",
    help="Watch infrastructure across clouds from one terminal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=lazy_group(COMMAND_MODULES, COMMAND_HOMES),
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


def _closed_pipe(exc: BaseException | None) -> bool:
    """Whether ``exc`` is, or was raised while handling, a write to a reader that went away.

    Click catches the EPIPE itself and turns it into ``sys.exit(1)``, so the broken pipe is
    found as the context of that SystemExit.
    """
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
            return True
        exc = exc.__context__
    return False


def _exit_after_closed_pipe() -> NoReturn:
    """Exit 0 without a word: the reader has what it wanted.

    Python flushes stdout once more at exit, which would fail on the closed pipe and print an
    error; stdout is pointed at the null device first (the recipe in Python's signal docs).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor behind stdout (an embedding)
        pass
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with the documented code."""
    try:
        rv = app(args=argv, prog_name="nephos", standalone_mode=False)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except SystemExit as exc:
        if _closed_pipe(exc):
            _exit_after_closed_pipe()
        raise
    except BrokenPipeError:
        _exit_after_closed_pipe()
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
