"""Reconnect delays: exponential backoff with full jitter, from an injected random source."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    """Delays for retry ``attempt`` 0, 1, 2...: uniform in ``[0, min(cap, base * 2**attempt))``.

    Full jitter spreads a crowd of clients reconnecting after a hub restart, and keeps the first
    retry under ``base`` seconds so a brief blip is barely noticed.
    """

    rng: random.Random
    base: float = 0.5
    """The upper bound of the first delay, in seconds."""
    cap: float = 30.0
    """No delay is longer than this, in seconds."""
    attempt: int = 0
    """Retries since the last successful connection."""

    def next_delay(self) -> float:
        """The delay before the next retry, in seconds; counts the attempt."""
        # The exponent is bounded so that 2**attempt never overflows a float on long outages.
        ceiling = min(self.cap, self.base * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return self.rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        """Start over after a connection went live."""
        self.attempt = 0
