"""``nephos sentinel run``: the checker loop in the foreground, its hub, and its live output.

The live output (state-change lines, alert lines, a periodic summary; or JSON lines) is shared
with ``nephos demo`` through :class:`LiveOutput`. The loop itself is
``nephos.sentinel.runner.Sentinel``.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from nephos.cli.common import MetricsPortOption, VerboseOption, opened_hot_store
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.clock import Clock, SystemClock
from nephos.config.types import Config
from nephos.errors import StreamError, UsageError
from nephos.model import CheckResult
from nephos.sentinel.events import AlertEvent, CheckEvent, SentinelEvent
from nephos.sentinel.output import (
    FleetTally,
    alert_word,
    format_latency,
    format_time,
    one_line,
    state_label,
)

if TYPE_CHECKING:
    from nephos.sentinel.runner import Sentinel

__all__ = ["LiveOutput", "configure_logging", "register", "run_sentinel"]


class LiveOutput:
    """Prints sentinel events: readable lines on a terminal, or JSON lines.

    Args:
        console: where lines go.
        json_lines: print every event as one JSON object per line instead.
        every_result: print every result, not only state changes (used for pipes and --once).
    """

    def __init__(self, console: Console, *, json_lines: bool, every_result: bool = False) -> None:
        self.console = console
        self.json_lines = json_lines
        self.every_result = every_result
        self.tally = FleetTally()
        self.open_alerts: Callable[[], int] | None = None
        """Counts the alert book's open alerts for the summary (set once the sentinel exists)."""

    def __call__(self, event: SentinelEvent) -> None:
        """Print one event (the sentinel's ``on_event``)."""
        self.tally.add(event)
        if self.json_lines:
            # Plain print: Rich would wrap long lines and break the JSON.
            sys.stdout.write(json.dumps(event.to_dict(), separators=(",", ":")) + "\n")
            sys.stdout.flush()
            return
        if isinstance(event, CheckEvent):
            if event.changed or self.every_result:
                self.console.print(self._check_line(event.result), highlight=False, soft_wrap=True)
        elif isinstance(event, AlertEvent):
            alert = event.alert
            self.console.print(
                f"[dim]{format_time(alert.updated_at)}[/dim] [bold]alert[/bold] "
                f"{escape(alert.id)} {alert_word(alert)} [bold]{escape(alert.target)}[/bold]"
                f"  {escape(one_line(alert.title))}",
                highlight=False,
                soft_wrap=True,
            )

    @staticmethod
    def _check_line(result: CheckResult) -> str:
        label = state_label(result.health, offline=result.sentinel_offline)
        reason = f"  [dim]{escape(one_line(result.reason))}[/dim]" if result.reason else ""
        return (
            f"[dim]{format_time(result.ts)}[/dim] [{label.style}]{label.glyph} "
            f"{label.word:<8}[/{label.style}] [bold]{escape(result.target.ljust(18))}[/bold] "
            f"{format_latency(result.latency_ms):>9}{reason}"
        )

    def summary(self) -> None:
        """Print the compact fleet summary line (not in JSON mode)."""
        if not self.json_lines:
            self.console.print(
                f"[dim]── {escape(self.tally.summary(self._open_alert_count()))}[/dim]",
                highlight=False,
                soft_wrap=True,
            )

    def _open_alert_count(self) -> int | None:
        return self.open_alerts() if self.open_alerts is not None else None

    def follow(self, sentinel: Sentinel) -> None:
        """Take the open-alert count of the summary from ``sentinel``'s alert book."""
        self.open_alerts = lambda: len(sentinel.alert_book.open_alerts())

    async def announce(self, sentinel: Sentinel) -> None:
        """Once ``sentinel`` serves, say where its live stream is (not in JSON mode)."""
        await sentinel.serving.wait()
        if sentinel.hub is not None and not self.json_lines:
            self.console.print(
                f"[dim]live stream on {escape(sentinel.hub.url)}: `nephos watch` shows it[/dim]",
                highlight=False,
                soft_wrap=True,
            )
            if sentinel.hub.ingest is not None:
                self.console.print(
                    f"[dim]metrics accepted at POST {escape(sentinel.hub.ingest.url)}"
                    " (`nephos agent` pushes there)[/dim]",
                    highlight=False,
                    soft_wrap=True,
                )

    async def summaries(self, every: float, clock: Clock) -> None:
        """Print the summary every ``every`` seconds until cancelled."""
        while True:
            await clock.sleep(every)
            self.summary()


def configure_logging(verbose: bool = False) -> None:
    """Log records as one line each on stderr: warnings by default, info with ``verbose``."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def run_sentinel(
    config: Config,
    output: LiveOutput,
    *,
    once: bool,
    metrics_port: int | None,
    serve: bool = True,
    summary_every: float = 60.0,
    clock: Clock | None = None,
) -> int:
    """Open the store and run the sentinel with ``output``; the process exit code.

    Args:
        config: the validated configuration.
        output: receives every event.
        once: one round of every target, then the exit code by the worst health.
        metrics_port: serve Prometheus metrics here (the hub's gauges included).
        serve: serve the live-stream hub on ``hub.listen`` (never with ``once``).
        summary_every: seconds between summary lines.
        clock: the time source (the system clock by default).

    Raises:
        BackendError: the store could not be opened, or the metrics port not bound.
        StreamError: the hub's address is in use (the message says what to do).
        ConfigError: a notifier cannot be built, or the hub would listen beyond loopback
            without a token.
    """
    from nephos.sentinel.runner import Sentinel

    clock = clock or SystemClock()
    async with opened_hot_store(config, clock) as store:
        sentinel = Sentinel(config, store=store, clock=clock, on_event=output)
        output.follow(sentinel)
        if once:
            health = await sentinel.run_once()
            output.summary()
            return health.exit_code
        ticker = asyncio.create_task(output.summaries(summary_every, clock))
        announcer = asyncio.create_task(output.announce(sentinel))
        try:
            await sentinel.run(
                metrics_port=metrics_port,
                handle_signals=True,
                watch_config=True,
                serve=config.hub if serve else None,
            )
        except StreamError as exc:
            raise _explain_hub_error(exc, config.hub.listen) from exc
        finally:
            ticker.cancel()
            announcer.cancel()
        output.summary()
        return 0


def _explain_hub_error(exc: StreamError, listen: str) -> StreamError:
    """The hub could not listen: one line naming the address and the two ways out."""
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
        return StreamError(
            f"the live-stream hub cannot listen on {listen}: the address is already in use "
            "(another `nephos sentinel run` or `nephos hub`?); pass --no-serve, "
            "or set hub.listen to a free address"
        )
    return StreamError(f"{exc}; pass --no-serve, or set hub.listen to another address")


def register(app: typer.Typer) -> None:
    """Add ``nephos sentinel run`` to ``app``."""
    group = typer.Typer(help="The checker loop.", no_args_is_help=True)

    @group.command("run")
    def run(
        config: ConfigOption = None,
        once: Annotated[
            bool, typer.Option("--once", help="One round of every target; exit 0, 1 or 2.")
        ] = False,
        json_lines: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
        metrics_port: MetricsPortOption = None,
        no_serve: Annotated[
            bool,
            typer.Option(
                "--no-serve",
                help="Do not serve the live-stream hub on hub.listen (127.0.0.1:8765).",
            ),
        ] = False,
        verbose: VerboseOption = False,
    ) -> int:
        """Check every configured target on its schedule until Ctrl-C (or once, with --once)."""
        configure_logging(verbose)
        cfg = load_cli_config(config)
        if not any(t.enabled for t in cfg.targets):
            where = cfg.source or "the config (none was found; try `nephos init`)"
            raise UsageError(f"no targets to check: add some under `targets:` in {where}")
        console = Console(highlight=False)
        output = LiveOutput(console, json_lines=json_lines, every_result=once)
        return asyncio.run(
            run_sentinel(cfg, output, once=once, metrics_port=metrics_port, serve=not no_serve)
        )

    app.add_typer(group, name="sentinel")
