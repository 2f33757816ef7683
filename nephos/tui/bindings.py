"""The one binding table of ``nephos watch``, and what is generated from it.

The footer shows the bindings with ``show=True``; the help screen (``?``) lists every one;
the command palette offers every action. Each binding has an ``id`` (``nephos.pause``) so a
keymap can rebind it with ``App.set_keymap``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

__all__ = ["WATCH_BINDINGS", "HelpRow", "WatchCommands", "help_rows"]


def _b(
    key: str,
    action: str,
    description: str,
    tooltip: str,
    *,
    show: bool = True,
    key_display: str | None = None,
    name: str | None = None,
) -> Binding:
    return Binding(
        key,
        action,
        description,
        show=show,
        key_display=key_display,
        tooltip=tooltip,
        id=f"nephos.{name or action}",
    )


WATCH_BINDINGS: list[Binding] = [
    _b("question_mark", "help", "Help", "Show every key and what it does.", key_display="?"),
    _b(
        "slash",
        "filter",
        "Filter",
        "Filter targets: free text, state:down, provider:aws.",
        key_display="/",
    ),
    _b(
        "i",
        "instances",
        "Instances",
        "Switch the table between targets and instances (state, CPU and memory sparklines).",
    ),
    _b("s", "sort", "Sort", "Sort by the column under the cursor; again to reverse."),
    _b("p", "pause", "Pause", "Freeze drawing; events keep arriving and are counted."),
    _b(
        "enter",
        "drill",
        "Detail",
        "Open the selected target (latency chart, results, alerts) or instance (CPU and memory).",
        show=False,
    ),
    _b("a", "ack", "Ack", "Acknowledge the selected alert (through the hub into the store)."),
    _b(
        "e",
        "explain",
        "Explain",
        "Explain the selected alert in plain words (fetched in the background; esc cancels).",
    ),
    _b(
        "r",
        "reconnect",
        "Reconnect",
        "Reconnect to the hub now, skipping the backoff wait.",
        show=False,
    ),
    _b("tab", "switch_pane", "Pane", "Move between the targets and the alerts.", show=False),
    *(
        _b(
            str(i),
            f"provider({i})",
            f"Provider {i}",
            f"Show only the targets of card {i}.",
            show=False,
            name=f"provider{i}",
        )
        for i in range(1, 6)
    ),
    _b(
        "0",
        "provider(0)",
        "All providers",
        "Show the targets of every provider.",
        show=False,
        name="provider0",
    ),
    _b(
        "escape",
        "clear",
        "Clear",
        "Clear the filter, then the provider focus.",
        show=False,
        key_display="esc",
    ),
    _b("q", "quit", "Quit", "Leave nephos watch."),
]
"""Every key of the main screen, in the order help lists them."""


@dataclass(frozen=True, slots=True)
class HelpRow:
    """One line of the help screen."""

    key: str
    description: str
    tooltip: str


def help_rows(bindings: list[Binding] | None = None) -> list[HelpRow]:
    """The help screen's rows, generated from the binding table."""
    return [
        HelpRow(b.key_display or b.key, b.description, b.tooltip)
        for b in (WATCH_BINDINGS if bindings is None else bindings)
    ]


def _palette_entries() -> Iterator[tuple[str, str, str]]:
    for binding in WATCH_BINDINGS:
        key = binding.key_display or binding.key
        yield f"{binding.description} ({key})", binding.action, binding.tooltip


class WatchCommands(Provider):
    """Every action of the binding table as a command palette entry."""

    async def discover(self) -> Hits:
        """Every action, before anything is typed."""
        for title, action, tooltip in _palette_entries():
            yield DiscoveryHit(title, partial(self._run, action), help=tooltip)

    async def search(self, query: str) -> Hits:
        """Actions whose title matches ``query``, best first."""
        matcher = self.matcher(query)
        for title, action, tooltip in _palette_entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action), help=tooltip)

    async def _run(self, action: str) -> None:
        await self.app.run_action(action)
