"""``nephos agent``: push this host's CPU, memory, disk, network and load to a hub.

Thin: sampling is :class:`nephos.agent.host.HostSampler`, the buffer and the sender
:class:`nephos.agent.pusher.MetricPusher`, the loop :func:`nephos.agent.runner.run_agent`.
Exits 0 on SIGINT or SIGTERM; ``--once`` exits 4 when the hub could not take the sample (it
stays buffered for the next run).
"""

from __future__ import annotations

import asyncio
import signal
import socket
from typing import Annotated

import typer

from nephos.cli.common import TokenOption, VerboseOption, duration_flag
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.cli.sentinel_cmd import configure_logging
from nephos.config.values import parse_size
from nephos.errors import ConfigError, StreamError, UsageError

__all__ = ["register"]

DEFAULT_BUFFER_DIR = "~/.local/share/nephos/agent-buffer"


def register(app: typer.Typer) -> None:
    """Add ``agent`` to ``app``."""
    app.command("agent")(agent_command)


def agent_command(
    config: ConfigOption = None,
    *,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The hub's ingest URL (default: from hub.ingest_listen, e.g. "
            "http://127.0.0.1:8766/ingest).",
            show_default=False,
        ),
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", help="Time between samples (10s, 1m).")
    ] = "10s",
    token: TokenOption = None,
    instance: Annotated[
        str | None,
        typer.Option(
            "--instance",
            help="The instance name on the points (default: the host name).",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str, typer.Option("--provider", help="The provider on the points.")
    ] = "other",
    buffer_dir: Annotated[
        str,
        typer.Option("--buffer-dir", help="Where points wait while the hub is unreachable."),
    ] = DEFAULT_BUFFER_DIR,
    buffer_max: Annotated[
        str, typer.Option("--buffer-max", help="The buffer's size cap (64MiB, 1GiB).")
    ] = "64MiB",
    once: Annotated[
        bool, typer.Option("--once", help="Take one sample, send it, and exit.")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Push this host's CPU, memory, disk, network and load to a hub's POST /ingest."""
    from nephos.agent.runner import default_ingest_url

    seconds = duration_flag("--interval", interval).total_seconds()
    try:
        max_bytes = parse_size(buffer_max)
    except ConfigError as exc:
        raise UsageError(f"--buffer-max: {exc.message}") from exc
    if seconds < 1:
        raise UsageError(f"--interval {interval} is too short; at least 1s")
    cfg = load_cli_config(config)
    target = url or default_ingest_url(cfg.hub)
    if not target.startswith(("http://", "https://")):
        raise UsageError(f"--url {target} is not an http:// or https:// URL")
    configure_logging(verbose)
    name = instance or socket.gethostname()
    delivered = asyncio.run(
        _run(target, token or cfg.hub.token, name, provider, seconds, buffer_dir, max_bytes, once)
    )
    if once and not delivered:
        raise StreamError(f"the hub at {target} did not take the sample; it stays buffered")


async def _run(
    url: str,
    token: str | None,
    instance: str,
    provider: str,
    interval: float,
    buffer_dir: str,
    max_bytes: int,
    once: bool,
) -> bool:
    from nephos.agent.host import HostSampler
    from nephos.agent.pusher import MetricPusher
    from nephos.agent.runner import run_agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pusher = MetricPusher(url, buffer_dir=buffer_dir, buffer_max_bytes=max_bytes, token=token)
    if not once:
        typer.echo(
            f"nephos agent: {instance} -> {url} every {interval:g}s (Ctrl-C stops)", err=True
        )
    try:
        sampler = HostSampler(instance, provider=provider)
        return await run_agent(sampler, pusher, interval=interval, stop=stop, once=once)
    finally:
        await pusher.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
