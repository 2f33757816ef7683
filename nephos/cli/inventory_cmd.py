"""``nephos inventory``: every instance across the configured providers, with health tallies.

Polls the providers directly (no store needed). A provider that fails is shown as unavailable
with its reason; the exit code is 4 only when every configured provider is unavailable.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nephos.cli.common import print_json, table_console
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.clock import SystemClock
from nephos.config.types import Config
from nephos.errors import BackendError, UsageError
from nephos.model import Health, Instance, InstanceState, to_dict
from nephos.providers import PROVIDER_NAMES, build_providers
from nephos.providers.inventory import (
    Inventory,
    ProviderHealth,
    collect_inventory,
    instance_health,
    provider_health,
)
from nephos.sentinel.output import one_line, state_label

__all__ = ["inventory_document", "read_inventory", "register", "render"]

# Every state has a glyph and a word, never colour alone (STYLE.md).
_STATE_LOOK = {
    InstanceState.RUNNING: ("●", "green"),
    InstanceState.PENDING: ("▲", "yellow"),
    InstanceState.MAINTENANCE: ("▲", "yellow"),
    InstanceState.STOPPING: ("✕", "red"),
    InstanceState.STOPPED: ("✕", "red"),
    InstanceState.SUSPENDED: ("✕", "red"),
    InstanceState.ERROR: ("✕", "red"),
    InstanceState.TERMINATING: ("○", "dim"),
    InstanceState.TERMINATED: ("○", "dim"),
    InstanceState.UNKNOWN: ("?", "magenta"),
}


async def read_inventory(
    config: Config, *, only: tuple[str, ...] = (), timeout: float = 30.0
) -> Inventory:
    """Poll the configured providers (or only those named in ``only``).

    Raises:
        UsageError: a name in ``only`` is not a configured provider, or none is configured.
    """
    configured = [name for name in PROVIDER_NAMES if name in config.providers]
    if not configured:
        raise UsageError("no providers configured: add a providers section to the config")
    for name in only:
        if name not in configured:
            raise UsageError(
                f"provider {name!r} is not configured (configured: {', '.join(configured)})"
            )
    clock = SystemClock()
    providers = [p for p in build_providers(config, clock=clock) if not only or p.name in only]
    try:
        return await collect_inventory(providers, clock=clock, timeout=timeout)
    finally:
        await asyncio.gather(*(p.close() for p in providers), return_exceptions=True)


def inventory_document(inventory: Inventory) -> dict[str, Any]:
    """The ``--json`` document: per-provider tallies and statuses, then every instance."""
    tallies = provider_health(inventory.instances)
    providers = []
    for status in inventory.statuses:
        tally = tallies.get(status.provider, ProviderHealth(status.provider))
        providers.append(
            {
                "provider": status.provider,
                "available": status.available,
                "reason": status.reason,
                "instances": status.instances,
                "health": tally.health.value if status.available else Health.UNKNOWN.value,
                "healthy": tally.healthy,
                "degraded": tally.degraded,
                "unhealthy": tally.unhealthy,
                "unknown": tally.unknown,
                "total": tally.total,
                "percent": None if tally.percent is None else round(tally.percent, 1),
            }
        )
    instances = []
    for instance in inventory.instances:
        health = instance_health(instance)
        instances.append({**to_dict(instance), "health": health.value if health else None})
    return {
        "collected_at": to_dict(inventory)["collected_at"],
        "providers": providers,
        "instances": instances,
    }


def _cell(text: str | None) -> str:
    # On one line: a newline in a tag from a monitored system could forge a row.
    return escape(one_line(text, 120)) if text else ""


def _styled(glyph: str, word: str, style: str) -> str:
    return f"[{style}]{glyph} {escape(word)}[/{style}]"


def _instance_row(instance: Instance) -> list[str]:
    glyph, style = _STATE_LOOK[instance.state]
    ips = ", ".join((*instance.public_ips, *instance.private_ips))
    size = instance.size or ""
    if instance.vcpus or instance.memory_mb:
        parts = [f"{instance.vcpus} vCPU" if instance.vcpus else "", _memory(instance.memory_mb)]
        size = f"{size} ({', '.join(p for p in parts if p)})".strip()
    return [
        _cell(instance.provider),
        _cell(instance.region or instance.zone),
        _cell(instance.name),
        _styled(glyph, instance.state.value, style),
        _cell(ips),
        _cell(size),
        _cell(instance.health_signal),
    ]


def _memory(memory_mb: int | None) -> str:
    if not memory_mb:
        return ""
    return f"{memory_mb / 1024:g} GiB" if memory_mb >= 1024 else f"{memory_mb} MiB"


def render(inventory: Inventory, console: Console) -> None:
    """Print the instance table, then one health line per provider."""
    order = {status.provider: i for i, status in enumerate(inventory.statuses)}
    rows = sorted(
        inventory.instances,
        key=lambda i: (order.get(i.provider, len(order)), i.region or "", i.name, i.id),
    )
    if rows:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("provider", "region", "name", "state", "ips", "size"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
        table.add_column("health signal", overflow="fold")
        for instance in rows:
            table.add_row(*_instance_row(instance))
        console.print(table)
    else:
        console.print("no instances")
    console.print()
    console.print(_health_table(inventory))


def _health_table(inventory: Inventory) -> Table:
    """One line per provider: its health and healthy/total, or why it is unavailable."""
    tallies = provider_health(inventory.instances)
    table = Table(box=None, pad_edge=False, show_edge=False, show_header=False)
    table.add_column("provider", no_wrap=True)
    table.add_column("health", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for status in inventory.statuses:
        if not status.available:
            reason = _cell(status.reason) or "no reason given"
            table.add_row(escape(status.provider), _styled("✕", "unavailable", "red"), reason)
            continue
        tally = tallies.get(status.provider, ProviderHealth(status.provider))
        label = state_label(tally.health)
        share = "" if tally.percent is None else f" ({tally.percent:.0f}%)"
        table.add_row(
            escape(status.provider),
            _styled(label.glyph, tally.health.value, label.style),
            f"{tally.healthy}/{tally.total} healthy{share}",
        )
    return table


def register(app: typer.Typer) -> None:
    """Add ``nephos inventory`` to ``app``."""

    @app.command("inventory")
    def inventory(
        config: ConfigOption = None,
        provider: Annotated[
            list[str] | None,
            typer.Option("--provider", "-p", help="Only this provider (repeatable)."),
        ] = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        timeout: Annotated[
            float, typer.Option("--timeout", min=1.0, help="Seconds each provider may take.")
        ] = 30.0,
    ) -> int:
        """Every instance across providers, normalised, with per-provider health.

        Exits 4 when every provider asked is unavailable.
        """
        cfg = load_cli_config(config)
        only = tuple(dict.fromkeys(p.lower() for p in provider or ()))
        result = asyncio.run(read_inventory(cfg, only=only, timeout=timeout))
        if json_out:
            print_json(inventory_document(result))
        else:
            render(result, table_console())
        if result.all_unavailable:
            reasons = "; ".join(s.reason or s.provider for s in result.statuses)
            if json_out:
                return BackendError.exit_code
            raise BackendError(f"no provider answered: {one_line(reasons, 400)}")
        return 0
