"""What several commands share, so that the same thing reads and fails the same way everywhere.

Flag checks that turn a bad value into a one-line usage error (durations, hub URLs); options
that mean the same in every command (``--metrics-port``, ``--token``, ``--verbose``); where
``tail`` and ``watch`` connect; the hot store and warehouse opened for a block; state labels,
JSON output and the console for tables. The ``--config/-c`` option lives in ``config_cmd``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from nephos.errors import ConfigError, StoreError, UsageError, WarehouseError
from nephos.model import AlertState
from nephos.sentinel.output import StateLabel

if TYPE_CHECKING:
    from rich.console import Console

    from nephos.clock import Clock
    from nephos.config.types import Config
    from nephos.store.base import HotStore
    from nephos.warehouse.base import Warehouse

__all__ = [
    "MetricsPortOption",
    "TokenOption",
    "VerboseOption",
    "alert_label",
    "duration_flag",
    "hub_address",
    "hub_url_flag",
    "opened_hot_store",
    "opened_warehouse",
    "print_json",
    "require_openable_hot_store",
    "require_warehouse",
    "table_console",
    "warehouse_exists",
]

MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics on 127.0.0.1:N.",
        show_default=False,
    ),
]
"""``--metrics-port``: a TCP port, checked by click (exit 3 with its usage block)."""

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="NEPHOS_HUB_TOKEN",
        help="The hub's token (default: hub.token from the config).",
        show_default=False,
    ),
]
"""``--token``: the bearer token for a hub (``tail``, ``watch``)."""

_ALERT_LABELS = {
    AlertState.FIRING: StateLabel("✕", "firing", "bold red"),
    AlertState.ACKNOWLEDGED: StateLabel("◆", "acknowledged", "yellow"),
    AlertState.RESOLVED: StateLabel("●", "resolved", "green"),
}


def alert_label(state: AlertState) -> StateLabel:
    """How an alert's state reads (``✕ firing``): a glyph and a word, never colour alone.

    The health labels are :func:`nephos.sentinel.output.state_label`.
    """
    return _ALERT_LABELS[state]


VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")]
"""``--verbose/-v``: log at INFO instead of WARNING."""


def duration_flag(flag: str, text: str) -> timedelta:
    """``text`` read as a positive duration (``90s``, ``2m``, ``48h``, ``7d``).

    Raises:
        UsageError: ``text`` is not a duration, or is not longer than zero; the message names
            ``flag``.
    """
    from nephos.config.values import parse_duration

    try:
        value = parse_duration(text, allow_number=False)
    except ConfigError as exc:
        raise UsageError(f"{flag}: {exc.message}") from exc
    if value <= timedelta(0):
        raise UsageError(f"{flag}: must be longer than 0s")
    return value


def hub_url_flag(flag: str, url: str) -> str:
    """``url`` checked as a hub address: ``ws://`` or ``wss://``, a host and a valid port.

    A client would otherwise retry a URL that can never work, or fail deep in the WebSocket
    library.

    Raises:
        UsageError: ``url`` is not a WebSocket URL; the message names ``flag``.
    """
    hint = "(e.g. ws://127.0.0.1:8765/)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{flag}: {url!r} is not a WebSocket URL: {exc} {hint}") from exc
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"{flag}: {url!r} is not a WebSocket URL {hint}")
    if port == 0:
        raise UsageError(f"{flag}: {url!r}: port 0 cannot be dialled {hint}")
    return url


def hub_address(url: str | None, token: str | None, config: str | None) -> tuple[str, str | None]:
    """Where ``tail`` and ``watch`` connect, and with which token.

    ``--url`` and ``--token`` first; else, when no config is named or found, what
    ``nephos deploy`` saved; else the config's ``hub`` section.

    Raises:
        UsageError: ``url`` is not a WebSocket URL.
        ConfigError: the config is invalid, or ``$NEPHOS_CONFIG`` names a missing file.
    """
    from nephos.cli.config_cmd import load_cli_config
    from nephos.deploy.aws_outputs import deployed_stream
    from nephos.stream.hub import dial_url

    if url is not None:
        hub_url_flag("--url", url)  # a URL that can never work is not retried
    deployed = deployed_stream(url, config)
    if deployed is not None:
        url, token = deployed.websocket_url, token or deployed.token
    if url is None or token is None:
        hub = load_cli_config(config).hub
        url = url or dial_url(hub.listen)
        token = token or hub.token
    return url, token


@asynccontextmanager
async def opened_hot_store(config: Config, clock: Clock) -> AsyncIterator[HotStore]:
    """The configured hot store, open for the ``async with`` block and closed after it.

    Raises:
        StoreError: the store could not be opened (exit 4).
        ConfigError: the store's settings are invalid.
    """
    from nephos.store import open_hot_store

    store = open_hot_store(config.storage.hot, clock=clock)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def opened_warehouse(config: Config, clock: Clock) -> AsyncIterator[Warehouse]:
    """The configured warehouse, open for the ``async with`` block and closed after it.

    Raises:
        WarehouseError: the warehouse could not be opened (exit 4).
        ConfigError: the warehouse's settings are invalid.
    """
    from nephos.warehouse import open_warehouse

    warehouse = open_warehouse(config.storage.warehouse, clock=clock)
    await warehouse.open()
    try:
        yield warehouse
    finally:
        await warehouse.close()


def require_openable_hot_store(config: Config) -> None:
    """Fail when the embedded hot store's path can never be opened.

    A store file that is not there yet is fine (the commands that read say so and go on), but
    a file standing where a folder of its path should be, or a folder that cannot be looked
    into, is a broken setup: without this check it would read as "no checks yet".

    Raises:
        StoreError: a part of the SQLite path is a file, or cannot be read (exit 4).
    """
    hot = config.storage.hot
    if hot.backend != "sqlite":
        return
    path = Path(hot.path).expanduser()
    for part in (path, *path.parents):
        try:
            part.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue  # not there (yet): the folder above says whether it can be
        except OSError as exc:  # no permission to look, a loop of links
            reason = exc.strerror or str(exc)
            raise StoreError(f"hot store {hot.path}: cannot open: {reason}") from exc
        if part != path and not part.is_dir():
            raise StoreError(f"hot store {hot.path}: cannot open: {part} is not a folder")
        return


def warehouse_exists(config: Config) -> bool:
    """Whether the configured warehouse can hold data yet.

    A DuckDB file that is not there would be created empty by opening it; other backends are
    remote and assumed present.
    """
    warehouse = config.storage.warehouse
    if warehouse.backend == "duckdb":
        return Path(warehouse.path).expanduser().exists()
    return True


def require_warehouse(config: Config) -> None:
    """Fail early, rather than create an empty warehouse, when the DuckDB file is missing.

    Raises:
        WarehouseError: the DuckDB file does not exist (exit 4); the message says what fills it.
    """
    if not warehouse_exists(config):
        where = config.storage.warehouse.path
        raise WarehouseError(f"no warehouse at {where} yet: `nephos etl run` fills it")


def print_json(document: object) -> None:
    """Print ``document`` as indented JSON on stdout; text stays as written (no ``\\u`` escapes).

    Plain ``sys.stdout``, not Rich: Rich would wrap long lines and highlight the JSON.
    """
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def table_console() -> Console:
    """A console for tables: the terminal's width, or 160 columns for pipes and files.

    Pipes and files get whole rows rather than an 80-column wrap.
    """
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=160)
    return console
