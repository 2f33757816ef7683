"""Helpers shared by the provider tests: a clock that skips its own waits, and a running CloudSim.

The clock is a :class:`ManualClock` whose ``sleep`` records the wait and moves time forward at
once, so a retry's wait is asserted exactly (``clock.sleeps == [3.0]``) without sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nephos.clock import ManualClock
from nephos.sim.clouds import CloudFleet, CloudSim


class SkippingClock(ManualClock):
    """A manual clock that records every sleep and advances past it immediately."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))


@pytest.fixture
def clock() -> SkippingClock:
    """A fresh skipping clock."""
    return SkippingClock()


@pytest.fixture
def fleet() -> CloudFleet:
    """An empty fleet; each test adds its instances."""
    return CloudFleet()


@pytest.fixture
async def sim(fleet: CloudFleet, clock: SkippingClock) -> AsyncIterator[CloudSim]:
    """The cloud simulator on an ephemeral loopback port, on the test's clock."""
    async with CloudSim(fleet, clock=clock) as running:
        yield running
