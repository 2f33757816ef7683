"""The explanation modal: ``e`` on an alert opens it, fetches the explanation in a worker with a
spinner, and ``esc`` closes it and cancels the fetch.

The text comes from an explainer (``nephos.insights.explain.explain_text`` by default) and is
shown as plain text, never parsed as markup: it carries names and messages from monitored
systems.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import LoadingIndicator, Static
from textual.worker import Worker

from nephos.model import Alert

__all__ = ["AlertExplanation", "Explainer"]

Explainer = Callable[[Alert], Awaitable[str]]
"""Turns an alert into the text of its explanation."""


class AlertExplanation(ModalScreen[None]):
    """One alert's explanation, fetched in the background.

    Args:
        alert: the alert to explain.
        explainer: what writes the explanation.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", key_display="esc", id="nephos.explain.close"),
        Binding("q", "close", "Close", show=False, id="nephos.explain.close_q"),
    ]

    def __init__(self, alert: Alert, explainer: Explainer) -> None:
        super().__init__()
        self.alert = alert
        """The alert explained."""
        self.explainer = explainer
        self.text: str | None = None
        """The explanation once it has arrived."""
        self._worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="explanation") as box:
            box.border_title = Text(f"explain {self.alert.id}")
            box.border_subtitle = "esc closes (and cancels)"
            yield LoadingIndicator(id="explain-spinner")
            yield Static(Text(f"explaining {self.alert.id}…"), id="explain-body")

    def on_mount(self) -> None:
        self._worker = self.run_worker(
            self._fetch(), name=f"explain-{self.alert.id}", group="explain", exit_on_error=False
        )

    async def _fetch(self) -> None:
        body = self.query_one("#explain-body", Static)
        try:
            text = await self.explainer(self.alert)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the modal reports any failure; the app goes on
            text = f"could not explain {self.alert.id}: {exc}"
        self.text = text
        await self.query_one("#explain-spinner", LoadingIndicator).remove()
        body.update(Text(text))

    @property
    def pending(self) -> bool:
        """Whether the explanation is still being fetched."""
        return self._worker is not None and self._worker.is_running

    def action_close(self) -> None:
        """Close the modal, cancelling the fetch if it is still running."""
        if self._worker is not None and self._worker.is_running:
            self._worker.cancel()
        self.dismiss(None)
