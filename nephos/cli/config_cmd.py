"""``nephos init`` and ``nephos config validate``, and the shared ``--config/-c`` option.

Other command modules reuse :data:`ConfigOption` and :func:`load_cli_config` so that every
command finds its config the same way (``--config``, ``$NEPHOS_CONFIG``, ``./nephos.yaml``,
``~/.config/nephos/nephos.yaml``).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Annotated

import typer

from nephos.config import Config, find_config_file, load_config, search_paths
from nephos.errors import ConfigError, UsageError

__all__ = ["ConfigOption", "load_cli_config", "register", "starter_text"]

ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        "-c",
        envvar="NEPHOS_CONFIG",
        show_envvar=True,
        help="Config file (default: ./nephos.yaml, then ~/.config/nephos/nephos.yaml).",
    ),
]
"""The ``--config/-c`` option every command takes."""

config_app = typer.Typer(
    name="config",
    help="Check configuration files.",
    no_args_is_help=True,
)


def starter_text() -> str:
    """The commented starter config shipped inside the package."""
    return resources.files("nephos.config").joinpath("starter.yaml").read_text(encoding="utf-8")


def load_cli_config(path: str | None) -> Config:
    """The config for a command: ``path`` if given, else the usual lookup, else the defaults.

    Raises:
        ConfigError: the file named, or found, is invalid.
    """
    return load_config(path)


def init(
    path: Annotated[
        str | None,
        typer.Argument(
            help="Where to write the config (default: --config, else nephos.yaml).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config."""
    # --config and $NEPHOS_CONFIG name the file the other commands will read: write it there.
    path = path or config or "nephos.yaml"
    target = os.path.expanduser(path)
    if os.path.isdir(target):
        raise UsageError(f"{path} is a directory; name a file, e.g. {path}/nephos.yaml")
    if os.path.exists(target) and not force:
        raise UsageError(f"{path} already exists (use --force to overwrite)")
    parent = os.path.dirname(target)
    try:
        if parent:
            os.makedirs(parent, exist_ok=True)
        # 0600: the file is where people put tokens and webhook URLs.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(starter_text())
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    typer.echo(f"wrote {path}; check it with: nephos config validate -c {path}")


@config_app.command("validate")
def validate(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check a config file; errors name file, line and key. Exit 3 when it is invalid."""
    try:
        found = find_config_file(config)
        if found is None:
            looked = ", ".join(search_paths())
            raise ConfigError(f"no config file found (looked for {looked}; try nephos init)")
        loaded = load_config(found)
    except ConfigError as exc:
        if not as_json:
            raise
        report = {"ok": False, "error": str(exc), "file": exc.file, "line": exc.line}
        typer.echo(json.dumps({**report, "path": exc.path}))
        raise typer.Exit(exc.exit_code) from exc
    targets, notifiers = len(loaded.targets), len(loaded.notifiers)
    if as_json:
        summary = {"ok": True, "file": found, "targets": targets, "notifiers": notifiers}
        typer.echo(json.dumps(summary))
        return
    typer.echo(f"ok: {targets} targets, {notifiers} notifiers ({found})")


def register(app: typer.Typer) -> None:
    """Add ``init`` and the ``config`` group to ``app``."""
    app.command("init")(init)
    app.add_typer(config_app, name="config")
