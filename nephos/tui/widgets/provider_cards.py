"""Provider cards: one per provider seen, its border coloured by the worst state, with the
glyph of that state, healthy/total and health %. A click selects the provider."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Static

from nephos.model import Health
from nephos.sentinel.output import state_label
from nephos.tui.cells import health_class
from nephos.tui.state import ProviderTotals

__all__ = ["ProviderCard", "ProviderCards", "card_label"]

_NAMES = {"aws": "AWS", "vultr": "Vultr", "gcp": "GCP", "azure": "Azure", "other": "other"}


def card_label(provider: str) -> str:
    """The display name of a provider (``aws`` reads ``AWS``)."""
    return _NAMES.get(provider, provider)


class ProviderCard(Static):
    """The card of one provider."""

    class Selected(Message):
        """The operator clicked a card."""

        def __init__(self, provider: str) -> None:
            super().__init__()
            self.provider = provider
            """The provider of the clicked card."""

    def __init__(self, provider: str, index: int) -> None:
        super().__init__(classes="card")
        self.provider = provider
        """The provider this card shows."""
        self.index = index
        """Its number key, 1 to 5 (0 when it has none)."""
        self._worst: Health | None = None
        self._shown: tuple[ProviderTotals, bool] | None = None

    def show(self, totals: ProviderTotals, *, focused: bool) -> None:
        """Redraw from ``totals``; ``focused`` when the table shows this provider alone."""
        if self._shown == (totals, focused):
            return  # nothing changed; an update would cost a layout pass
        self._shown = (totals, focused)
        label = state_label(totals.worst)
        if totals.worst is not self._worst:
            if self._worst is not None:
                self.remove_class(health_class(self._worst))
            self.add_class(health_class(totals.worst))
            self._worst = totals.worst
        self.set_class(focused, "-focused")
        key = f"{self.index} " if self.index else ""
        title = Text(f"{key}{label.glyph} ")
        title.append(card_label(self.provider)[:14])
        self.border_title = title
        if totals.total:
            body = Text(f"{totals.healthy}/{totals.total} ok", no_wrap=True, overflow="ellipsis")
            body.append(f"  {totals.health_pct:.0f}%", style="bold")
            body.append("\n")
            body.append(str(label), style=label.style)
            if totals.instances:
                body.append(f" · {totals.running}/{totals.instances} up", style="dim")
        else:  # a provider known from its inventory alone
            body = Text("no checks", style="dim", no_wrap=True, overflow="ellipsis")
            body.append(f"\n{totals.running}/{totals.instances} up")
        self.update(body, layout=False)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Selected(self.provider))


class ProviderCards(Horizontal):
    """The row of cards, growing as providers appear."""

    def show(self, providers: list[ProviderTotals], focused: str | None) -> None:
        """Redraw every card, mounting cards for providers seen for the first time."""
        cards = {card.provider: card for card in self.query(ProviderCard)}
        names = [p.provider for p in providers]
        if list(cards) != names:
            self.remove_children()
            cards = {
                name: ProviderCard(name, i + 1 if i < 5 else 0) for i, name in enumerate(names)
            }
            self.mount_all(cards.values())
        for totals in providers:
            cards[totals.provider].show(totals, focused=totals.provider == focused)

    def provider_at(self, index: int) -> str | None:
        """The provider of card ``index`` (1-based), if there is one."""
        for card in self.query(ProviderCard):
            if card.index == index:
                return card.provider
        return None
