"""A clock for replays: its wall time is the newest event time seen, so that ages in a played
recording read as they did when it was recorded."""

from __future__ import annotations

from datetime import datetime

from nephos.clock import Clock

__all__ = ["RecordedTime"]


class RecordedTime:
    """A clock whose wall time is the newest event time seen; the rest is the real clock's."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._latest: datetime | None = None

    def advance_to(self, ts: datetime) -> None:
        """Move to ``ts`` if it is newer than what was seen."""
        if self._latest is None or ts > self._latest:
            self._latest = ts

    def now(self) -> datetime:
        return self._latest or self._clock.now()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self._clock.sleep(seconds)
