"""Lazy command registration: running a command imports only its module, and the command line
(help, names, order, errors) reads exactly as when every module registered up front."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import typer
from typer.testing import CliRunner

from nephos.cli.main import COMMAND_HOMES, COMMAND_MODULES, app


def _eager_app() -> typer.Typer:
    """The app as it was built before: the same settings, every module registered at once."""
    eager = typer.Typer(
        name="nephos",
        help="Watch infrastructure across clouds from one terminal.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    eager.registered_callback = app.registered_callback
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(eager)
    return eager


def _registered_by(module: str) -> list[str]:
    sub = typer.Typer()
    importlib.import_module(module).register(sub)
    group = typer.main.get_group(sub)
    return list(group.commands)


def test_every_command_is_listed_with_the_module_that_registers_it() -> None:
    actual: dict[str, str] = {}
    for module in COMMAND_MODULES:
        for name in _registered_by(module):
            assert name not in actual, f"{name} registered by {actual.get(name)} and {module}"
            actual[name] = module
    assert actual == COMMAND_HOMES, "update COMMAND_HOMES in nephos/cli/main.py"


def test_the_commands_are_listed_in_the_order_eager_registration_gives() -> None:
    lazy = typer.main.get_command(app)
    eager = typer.main.get_command(_eager_app())
    assert isinstance(lazy, click.Group) and isinstance(eager, click.Group)
    assert list(lazy.commands) == list(eager.commands)
    assert lazy.list_commands(click.Context(lazy)) == eager.list_commands(click.Context(eager))


def test_help_and_usage_errors_read_as_with_eager_registration() -> None:
    runner = CliRunner()
    eager = _eager_app()
    for argv in (["--help"], [], ["nosuch"], ["summ"], ["config", "--help"], ["report", "-h"]):
        for width in ("80", "140"):
            env = {"COLUMNS": width}
            want, got = runner.invoke(eager, argv, env=env), runner.invoke(app, argv, env=env)
            assert (got.output, got.exit_code) == (want.output, want.exit_code), argv


def test_running_a_command_imports_its_module_and_not_the_others() -> None:
    code = (
        "import sys\n"
        "from nephos.cli.main import main\n"
        "try:\n"
        "    main(['summary', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.endswith('_cmd')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = done.stdout.strip().splitlines()[-1]
    assert "nephos.cli.summary_cmd" in loaded
    for other in ("status_cmd", "sentinel_cmd", "deploy_cmd", "watch_cmd", "anomalies_cmd"):
        assert f"nephos.cli.{other}" not in loaded


def test_a_command_missing_from_the_table_still_runs() -> None:
    from nephos.cli.lazy import lazy_group

    cls = lazy_group(COMMAND_MODULES, {})
    group = cls(name="nephos")
    assert group.get_command(click.Context(group), "summary") is not None
    assert group.get_command(click.Context(group), "no-such-command") is None
