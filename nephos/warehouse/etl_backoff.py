"""Capped exponential back-off for the ETL's backends, logged once per outage.

The waiting itself is the ETL's (on its injected clock, interruptible by a stop); this module
only counts failures, picks the next wait and says when an outage starts and ends.
"""

from __future__ import annotations

import logging

from nephos.clock import Clock

__all__ = ["Outage"]

# The ETL's logger: operators filter on one name for everything the ETL says.
log = logging.getLogger("nephos.warehouse.etl")


class Outage:
    """Back-off state of one backend; logs once when an outage starts and once when it ends.

    Args:
        what: the backend's name in the log lines ("warehouse", "hot store").
        clock: the clock whose monotonic time measures the outage.
        initial: the first wait, in seconds, doubled after each further failure.
        maximum: the cap of the wait.
    """

    def __init__(self, what: str, clock: Clock, initial: float, maximum: float) -> None:
        self._what = what
        self._clock = clock
        self._initial = initial
        self._maximum = maximum
        self.failures = 0
        self._since = 0.0

    def failed(self, exc: Exception, waiting: int) -> float:
        """Count a failed attempt; the seconds to wait before the next one."""
        if self.failures == 0:
            self._since = self._clock.monotonic()
            log.warning(
                "ETL: %s unreachable (%s); %d events waiting, retrying with back-off up to %gs",
                self._what,
                exc,
                waiting,
                self._maximum,
            )
        delay = min(self._maximum, self._initial * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return delay

    def recovered(self) -> None:
        """Note a success; logs the end of an outage if there was one."""
        if self.failures:
            log.warning(
                "ETL: %s reachable again after %.1fs and %d failed attempts; catching up",
                self._what,
                self._clock.monotonic() - self._since,
                self.failures,
            )
            self.failures = 0
