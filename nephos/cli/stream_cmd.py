"""``nephos hub`` (the WebSocket hub on its own) and ``nephos tail`` (the live stream as lines).

Thin: the hub is :class:`nephos.stream.hub.Hub`, the reconnecting client
:class:`nephos.stream.client.StreamClient`. ``tail --json`` prints the server frames as JSON
lines, which is a recording that the replay transport plays back; connection state goes to
stderr so that stdout stays clean. Both stop with exit 0 on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from nephos.cli.common import TokenOption, alert_label, hub_address, opened_hot_store
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.clock import SystemClock
from nephos.errors import StoreError
from nephos.model import Alert, CheckResult, EventKind, Instance, MetricPoint
from nephos.sentinel.output import state_label

if TYPE_CHECKING:
    from nephos.config.types import Config, HubConfig
    from nephos.stream.client import StreamClient, StreamMessage

__all__ = ["format_message", "register"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def register(app: typer.Typer) -> None:
    """Add ``hub`` and ``tail`` to ``app``."""
    app.command("hub")(hub_command)
    app.command("tail")(tail_command)


# --------------------------------------------------------------------------- nephos hub


def hub_command(
    config: ConfigOption = None,
    *,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen", help="HOST:PORT to listen on (default: hub.listen).", show_default=False
        ),
    ] = None,
) -> None:
    """Serve the live stream over WebSocket, tailing the configured hot store."""
    from nephos.stream.hub import check_listen

    cfg = load_cli_config(config)
    hub_config = replace(cfg.hub, listen=listen) if listen else cfg.hub
    check_listen(hub_config.listen, hub_config.token)  # before the store is opened or created
    asyncio.run(_serve(cfg, hub_config))


async def _serve(cfg: Config, hub_config: HubConfig) -> None:
    from nephos.store.spool import SpoolingWriter, spool_dir_for
    from nephos.stream.hub import serve_hub

    clock = SystemClock()
    hot = cfg.storage.hot
    async with opened_hot_store(cfg, clock) as store:
        # Ingest spools in its own directory: a sentinel run with --no-serve owns the main one.
        writer = SpoolingWriter(
            store, spool_dir_for(hot) / "ingest", max_bytes=hot.spool_max_bytes, clock=clock
        )
        try:
            await writer.start()
            async with serve_hub(store, hub_config, clock=clock, writer=writer) as hub:
                typer.echo(f"nephos hub: serving {hub.url} (Ctrl-C stops)", err=True)
                if hub.ingest is not None:
                    typer.echo(f"nephos hub: ingest at POST {hub.ingest.url}", err=True)
                await _until_signalled()
        finally:
            with contextlib.suppress(StoreError):
                await writer.flush()  # what the store still cannot take stays spooled
            await writer.close()


async def _until_signalled(on_signal: Callable[[], object] | None = None) -> None:
    """Wait for SIGINT or SIGTERM, then call ``on_signal``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        if on_signal is not None:
            on_signal()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


# --------------------------------------------------------------------------- nephos tail


def tail_command(
    config: ConfigOption = None,
    *,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the raw frames as JSON lines (a recording).")
    ] = False,
    since: Annotated[
        int | None,
        typer.Option(
            "--since", min=0, help="Replay every event after this seq first.", show_default=False
        ),
    ] = None,
    kind: Annotated[
        list[EventKind] | None,
        typer.Option("--kind", help="Only events of this kind (repeatable).", show_default=False),
    ] = None,
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", help="Only this provider (repeatable).", show_default=False),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Only this target (repeatable).", show_default=False),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="The hub, ws://HOST:PORT/ (default: from hub.listen).", show_default=False
        ),
    ] = None,
    token: TokenOption = None,
) -> None:
    """Print the live event stream as lines; survives hub restarts."""
    from nephos.stream.client import StreamClient

    url, token = hub_address(url, token, config)
    client = StreamClient(
        url,
        token=token,
        since=since,
        kinds=kind or (),
        providers=provider or (),
        targets=target or (),
    )
    with contextlib.suppress(BrokenPipeError):
        asyncio.run(_tail(client, as_json=as_json))


async def _tail(client: StreamClient, *, as_json: bool) -> None:
    from nephos.stream.client import StateChange
    from nephos.stream.protocol import encode

    closer: list[asyncio.Task[None]] = []
    watcher = asyncio.create_task(
        _until_signalled(lambda: closer.append(asyncio.create_task(client.close())))
    )
    try:
        async for message in client.messages():
            if isinstance(message, StateChange):
                typer.echo(format_message(message), err=True)
            elif as_json:
                if message.type in ("snapshot", "event", "lag"):
                    sys.stdout.write(encode(message) + "\n")
                    sys.stdout.flush()
            else:
                typer.echo(format_message(message))
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        for task in closer:
            await task


# --------------------------------------------------------------------------- lines


def format_message(message: StreamMessage) -> str:
    """One readable line for ``message``; text from monitored systems is escaped."""
    from nephos.stream.client import Phase, StateChange
    from nephos.stream.protocol import (
        ErrorMessage,
        EventMessage,
        Hello,
        Lag,
        ProtocolError,
        Snapshot,
    )

    if isinstance(message, StateChange):
        state = message.state
        if state.phase is Phase.RECONNECTING:
            why = f" ({_clean(state.reason)})" if state.reason else ""
            return f"-- reconnecting in {state.retry_in or 0:.1f} s{why}"
        why = f" ({_clean(state.reason)})" if state.reason and state.phase is Phase.OFFLINE else ""
        return f"-- {state.phase.value}{why}"
    if isinstance(message, Hello):
        return f"-- {_clean(message.server)} at seq {message.seq}"
    if isinstance(message, Snapshot):
        firing = sum(1 for a in message.alerts if a.state.value == "firing")
        return (
            f"{_clock(message.ts)}  snapshot  seq {message.seq}: {len(message.results)} targets, "
            f"{len(message.instances)} instances, {firing} alerts firing"
        )
    if isinstance(message, Lag):
        return f"-- lagging: {message.dropped} events dropped, resynchronising"
    if isinstance(message, ErrorMessage):
        return f"-- error {_clean(message.code)}: {_clean(message.message)}"
    assert isinstance(message, EventMessage)
    head = f"{_clock(message.ts)}  {message.kind.value:<8}"
    try:
        record = message.record()
    except ProtocolError:
        return f"{head}  seq {message.seq} (unreadable data)"
    return f"{head}  {_describe(record)}"


def _describe(record: CheckResult | Alert | Instance | MetricPoint) -> str:
    if isinstance(record, CheckResult):
        why = f"  {_clean(record.reason or record.error or '')}".rstrip()
        return (
            f"{state_label(record.health)!s:<11} {_clean(record.target):<24} "
            f"{record.latency_ms:>7.0f} ms{why}"
        )
    if isinstance(record, Alert):
        look = str(alert_label(record.state))
        return f"{look:<15} {_clean(record.target):<24} {_clean(record.title)}"
    if isinstance(record, Instance):
        where = "/".join(_clean(p) for p in (record.provider, record.region or "") if p)
        return f"{record.state.value:<11} {_clean(record.name):<24} {where}"
    return (
        f"{_clean(record.instance):<24} {_clean(record.metric)} "
        f"{record.value:g} {_clean(record.unit)}"
    )


def _clock(ts: object) -> str:
    from datetime import datetime

    return ts.astimezone().strftime("%H:%M:%S") if isinstance(ts, datetime) else "--:--:--"


def _clean(text: str | None) -> str:
    """``text`` with control characters shown as escapes, so no terminal sequence gets out."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text or "")
