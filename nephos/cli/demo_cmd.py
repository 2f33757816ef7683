"""``nephos demo``: a simulated fleet on loopback, checked by the sentinel, shown live.

The fleet and its wiring live in ``nephos.sim.fleet``; this module parses options and prints
with the same live output as ``nephos sentinel run``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from nephos.clock import SystemClock
from nephos.errors import ConfigError, UsageError

__all__ = ["DEFAULT_STORE", "register"]

DEFAULT_STORE = "~/.local/share/nephos/demo.db"


def _seconds(text: str, option: str) -> float:
    from nephos.config import parse_duration

    try:
        value = parse_duration(text)
    except ConfigError as exc:  # its message names no option
        raise UsageError(f"{option}: {text!r} is not a duration (try 30s, 2m)") from exc
    seconds = value.total_seconds()
    if seconds <= 0:
        raise UsageError(f"{option}: must be more than zero")
    return seconds


def register(app: typer.Typer) -> None:
    """Add ``nephos demo`` to ``app``."""

    @app.command("demo")
    def demo(
        duration: Annotated[
            str | None,
            typer.Option("--duration", help="Stop after this long (e.g. 30s); default: Ctrl-C."),
        ] = None,
        json_lines: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
        store: Annotated[
            str, typer.Option("--store", help="The SQLite file the demo writes.")
        ] = DEFAULT_STORE,
        interval: Annotated[
            str, typer.Option("--interval", help="Check interval of every target.")
        ] = "5s",
        seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation.")] = 7,
    ) -> int:
        """Start a simulated multi-cloud fleet on loopback and watch it live until Ctrl-C."""
        from datetime import timedelta

        from nephos.cli.sentinel_cmd import LiveOutput, configure_logging
        from nephos.sim.fleet import run_demo

        seconds = _seconds(duration, "--duration") if duration is not None else None
        every = timedelta(seconds=_seconds(interval, "--interval"))
        path = Path(store).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        configure_logging()
        console = Console(highlight=False)
        output = LiveOutput(console, json_lines=json_lines)
        if not json_lines:
            console.print(
                f"[bold]nephos demo[/bold]: a simulated fleet on 127.0.0.1, checked every "
                f"{every.total_seconds():g}s, stored in {escape(str(path))}. Ctrl-C stops it.",
                soft_wrap=True,
            )

        async def main() -> None:
            ticker = asyncio.create_task(output.summaries(15.0, SystemClock()))
            try:
                await run_demo(
                    store_path=str(path),
                    on_event=output,
                    duration=seconds,
                    seed=seed,
                    interval=every,
                    handle_signals=True,
                    on_ready=output.follow,
                )
            finally:
                ticker.cancel()

        asyncio.run(main())
        output.summary()
        return 0
