"""``nephos demo``: a simulated fleet on loopback, checked by the sentinel, shown live.

On a terminal it opens ``nephos watch`` on the fleet: the fleet, the sentinel and its hub (on
a free loopback port) run on a background thread while the Textual app owns the main one.
With ``--headless`` (or ``--json``, ``--duration``, or when stdout is not a terminal) it prints
with the same live output as ``nephos sentinel run`` instead. Besides the checked services,
the fleet has instances on simulated AWS, Vultr, GCP and Azure
APIs, which the sentinel polls like real clouds. The fleet and its wiring live in
``nephos.sim.fleet`` and ``nephos.sim.background``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta
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
            typer.Option(
                "--duration",
                help="Stop after this long (e.g. 30s; implies --headless); default: Ctrl-C.",
            ),
        ] = None,
        headless: Annotated[
            bool,
            typer.Option("--headless", help="Print live lines instead of opening the TUI."),
        ] = False,
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
        seconds = _seconds(duration, "--duration") if duration is not None else None
        every = timedelta(seconds=_seconds(interval, "--interval"))
        path = Path(store).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"--store {store}: cannot create its folder ({exc.strerror or exc})"
            ) from exc
        if headless or json_lines or seconds is not None or not sys.stdout.isatty():
            return _headless(path, json_lines=json_lines, seconds=seconds, every=every, seed=seed)
        return _watch(path, every=every, seed=seed)


def _headless(
    path: Path, *, json_lines: bool, seconds: float | None, every: timedelta, seed: int
) -> int:
    """Run the demo in this thread and print it with the sentinel's live output."""
    from nephos.cli.sentinel_cmd import LiveOutput, configure_logging
    from nephos.sim.fleet import run_demo

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


def _watch(path: Path, *, every: timedelta, seed: int) -> int:
    """Run the demo on a background thread and ``nephos watch`` on its hub in this one."""
    from nephos.sim.background import BackgroundDemo
    from nephos.tui.app import run_watch

    # Log lines would draw over the UI: they go to a file beside the store.
    log_file = path.with_name(path.name + ".log")
    logging.basicConfig(
        level=logging.WARNING,
        filename=log_file,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    demo = BackgroundDemo(store_path=str(path), seed=seed, interval=every)
    url = demo.start()
    try:
        return run_watch(url, token=None, replay=None)
    finally:
        demo.stop()
        Console(highlight=False, stderr=True).print(
            f"nephos demo: stopped; results are in {escape(str(path))}, logs in "
            f"{escape(str(log_file))}",
            soft_wrap=True,
        )
