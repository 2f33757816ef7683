"""``nephos alerts``: list, acknowledge and resolve entries of the alert book.

Thin: the work is done by :class:`nephos.sentinel.alerts.AlertBook` and the hot store. An
unknown id is a UsageError, which the CLI's one error path prints as one line (exit 3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from nephos.cli.common import alert_label, opened_hot_store, print_json
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.clock import SystemClock
from nephos.model import Alert, AlertState, to_dict

if TYPE_CHECKING:
    from nephos.sentinel.alerts import AlertBook
    from nephos.store.base import HotStore

__all__ = ["alerts_app", "register"]

T = TypeVar("T")

alerts_app = typer.Typer(
    name="alerts",
    help="The alert book: list, acknowledge and resolve alerts.",
    invoke_without_command=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _with_store(config_path: str | None, work: Callable[[HotStore], Awaitable[T]]) -> T:
    """Load the config, open its hot store, run ``work`` on it and close the store."""
    config = load_cli_config(config_path)

    async def main() -> T:
        async with opened_hot_store(config, SystemClock()) as store:
            return await work(store)

    return asyncio.run(main())


def _with_book(config_path: str | None, work: Callable[[AlertBook], Awaitable[T]]) -> T:
    """Run ``work`` on an alert book over the configured store and notifiers."""
    from nephos.notify.dispatch import Dispatcher
    from nephos.sentinel.alerts import AlertBook

    config = load_cli_config(config_path)
    clock = SystemClock()

    async def main() -> T:
        dispatcher = Dispatcher(config.notifiers, clock=clock)
        try:
            async with opened_hot_store(config, clock) as store:
                book = AlertBook(store, dispatcher, clock=clock, settings=config.sentinel)
                return await work(book)
        finally:
            # Let the "acknowledged"/"resolved" messages go out before the process ends.
            await dispatcher.drain(15)
            await dispatcher.close()

    return asyncio.run(main())


def _age(since: datetime, now: datetime) -> str:
    from nephos.sentinel.alert_text import duration_words

    return duration_words(now - since)


def _table(alerts: list[Alert]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    now = SystemClock().now()
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "STATE", "SEVERITY", "TARGET", "TITLE", "AGE", "NOTIFIED"):
        table.add_column(column, no_wrap=column != "TITLE")
    for alert in alerts:
        label = alert_label(alert.state)
        flags = " ~flapping" if alert.flapping else ""
        flags += f" (under {alert.suppressed_by})" if alert.suppressed_by else ""
        table.add_row(
            escape(alert.id),
            f"[{label.style}]{label}[/]",
            alert.severity.value,
            escape(alert.target),
            escape(alert.title) + escape(flags),
            _age(alert.started_at, now),
            str(alert.notify_count),
        )
    console = Console()
    if alerts:
        console.print(table)
    else:
        console.print("no alerts")


@alerts_app.callback()
def _default(ctx: typer.Context, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The alert book: list, acknowledge and resolve alerts (``nephos alerts`` lists them)."""
    # Options given before the subcommand (`nephos alerts -c x.yaml list`) still count.
    ctx.obj = {"config": config, "json": as_json}
    if ctx.invoked_subcommand is None:
        list_alerts(ctx, state=None, limit=200, config=config, as_json=as_json)


def _shared(ctx: typer.Context, config: str | None, as_json: bool) -> tuple[str | None, bool]:
    parent = ctx.obj if isinstance(ctx.obj, dict) else {}
    return config or parent.get("config"), as_json or bool(parent.get("json"))


@alerts_app.command("list")
def list_alerts(
    ctx: typer.Context,
    state: Annotated[
        AlertState | None, typer.Option("--state", help="Only alerts in this state.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 200,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first."""
    config, as_json = _shared(ctx, config, as_json)
    states = [state] if state is not None else None

    async def work(store: HotStore) -> list[Alert]:
        return await store.alerts(states=states, limit=limit)

    alerts = _with_store(config, work)
    if as_json:
        print_json([to_dict(a) for a in alerts])
    else:
        _table(alerts)


def _change(config: str | None, as_json: bool, alert_id: str, action: str) -> None:
    async def work(book: AlertBook) -> Alert:
        return await (book.ack(alert_id) if action == "ack" else book.resolve(alert_id))

    alert = _with_book(config, work)
    if as_json:
        print_json(to_dict(alert))
    else:
        typer.echo(f"{alert.id} is {alert.state.value}: {alert.title}")


@alerts_app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert id, e.g. al-7f3k2q.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge an alert: reminders stop; it still resolves by itself."""
    _change(*_shared(ctx, config, as_json), alert_id, "ack")


@alerts_app.command("resolve")
def resolve(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert id, e.g. al-7f3k2q.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resolve an alert by hand."""
    _change(*_shared(ctx, config, as_json), alert_id, "resolve")


def register(app: typer.Typer) -> None:
    """Add ``nephos alerts`` to ``app``."""
    app.add_typer(alerts_app, name="alerts")
