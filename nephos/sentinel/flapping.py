"""Flap detection: is a target changing state too often to be worth a message per change?

Nagios style: over the last ``window`` results, the share of consecutive pairs whose state
differs, with newer changes weighted more (0.8 for the oldest pair up to 1.2 for the newest).
Hysteresis keeps the verdict steady: a target starts flapping when the ratio reaches ``high``
and stops only when it falls below ``low`` (half of ``high`` unless given).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nephos.model import Health

__all__ = ["FlapDetector", "FlapVerdict", "state_change_ratio"]


def state_change_ratio(states: Sequence[str]) -> float:
    """The weighted share of consecutive pairs in ``states`` (oldest first) that differ.

    Args:
        states: state names, oldest first.

    Returns:
        A value in [0, 1]; 0 with fewer than two states.
    """
    pairs = len(states) - 1
    if pairs < 1:
        return 0.0
    total = 0.0
    for i in range(1, len(states)):
        if states[i] != states[i - 1]:
            # Weights run linearly from 0.8 (oldest pair) to 1.2 (newest pair), averaging 1.
            total += 0.8 + 0.4 * (i - 1) / max(pairs - 1, 1)
    return min(total / pairs, 1.0)


@dataclass(frozen=True, slots=True)
class FlapVerdict:
    """What one new state did to a target's flapping status."""

    flapping: bool
    started: bool = False  # this state made the target start flapping
    stopped: bool = False  # this state made the target stop flapping
    ratio: float = 0.0


class FlapDetector:
    """The recent states of one target and whether it is flapping.

    A verdict needs a full window of states, so that a few early results never look like
    flapping. The history round-trips through :meth:`to_state` and :meth:`restore` so that a
    restart keeps it.
    """

    def __init__(self, window: int = 10, high: float = 0.5, low: float | None = None) -> None:
        self.window = max(window, 3)
        self.high = high
        self.low = high / 2 if low is None else low
        self.history: deque[str] = deque(maxlen=self.window)
        self.flapping = False

    def record(self, health: Health) -> FlapVerdict:
        """Add the newest state and return the verdict.

        Args:
            health: the health of the newest result.
        """
        self.history.append(health.value)
        if len(self.history) < self.window:
            return FlapVerdict(flapping=self.flapping)
        ratio = state_change_ratio(list(self.history))
        if not self.flapping and ratio >= self.high:
            self.flapping = True
            return FlapVerdict(flapping=True, started=True, ratio=ratio)
        if self.flapping and ratio < self.low:
            self.flapping = False
            return FlapVerdict(flapping=False, stopped=True, ratio=ratio)
        return FlapVerdict(flapping=self.flapping, ratio=ratio)

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot for the store."""
        return {"history": list(self.history), "flapping": self.flapping}

    def restore(self, state: Mapping[str, Any] | None) -> None:
        """Load a snapshot made by :meth:`to_state`; an unreadable one is ignored.

        Args:
            state: the stored snapshot, or None.
        """
        if not isinstance(state, Mapping):
            return
        history = state.get("history")
        if isinstance(history, list):
            self.history.extend(str(h) for h in history[-self.window :])
        self.flapping = bool(state.get("flapping", False))
