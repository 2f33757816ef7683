"""``nephos watch``: the live terminal UI over a hub, or over a recording.

Thin: it works out the hub's address and token (flags first, then the config's ``hub``
section) and hands over to :func:`nephos.tui.app.run_watch`, imported only when the command
runs so that ``nephos --help`` never loads Textual. ``e`` explains an alert with the config's
narrator and, when the hot store is on this machine, the same facts as ``nephos explain-alert``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nephos.cli.common import TokenOption, hub_address, hub_url_flag
from nephos.cli.config_cmd import ConfigOption, load_cli_config

if TYPE_CHECKING:
    from nephos.model import Alert

__all__ = ["config_explainer", "register"]


def config_explainer(config_path: str | None) -> Callable[[Alert], Awaitable[str]]:
    """The explainer for ``e``: the config (read when first needed), its store and narrator."""

    async def explain(alert: Alert) -> str:
        from nephos.insights.explain import explain_text

        return await explain_text(alert, now=datetime.now(UTC), config=load_cli_config(config_path))

    return explain


def register(app: typer.Typer) -> None:
    """Add ``nephos watch`` to ``app``."""

    @app.command("watch")
    def watch(
        config: ConfigOption = None,
        url: Annotated[
            str | None,
            typer.Option("--url", help="The hub, ws://host:port/ (default: the config's hub)."),
        ] = None,
        token: TokenOption = None,
        replay: Annotated[
            Path | None,
            typer.Option(
                "--replay",
                help="Play a `nephos tail --json` recording instead of connecting to a hub.",
                show_default=False,
            ),
        ] = None,
        speed: Annotated[
            float,
            typer.Option("--speed", min=0.01, help="Replay speed: 1 keeps the recorded pace."),
        ] = 1.0,
    ) -> int:
        """The live terminal UI: providers, targets and alerts as they change.

        Keys: ? help, / filter, s sort, p pause, enter detail, a ack, e explain, q quit.
        """
        from nephos.tui.app import run_watch

        if url is not None:
            hub_url_flag("--url", url)  # before the screen is taken over
        if replay is not None:
            return run_watch(
                url,
                token=token,
                replay=str(replay),
                speed=speed,
                explainer=config_explainer(config),
            )
        url, token = hub_address(url, token, config)
        return run_watch(url, token=token, replay=None, explainer=config_explainer(config))
