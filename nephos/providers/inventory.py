"""The inventory: every provider polled at once, and the health tallies built from instances.

One provider failing (a ProviderError, a timeout, or any unexpected exception) marks it
unavailable with a one-line reason; the others are unaffected. :func:`provider_health` and
:func:`instance_health` are pure, so the status command, the TUI and the insights share them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from nephos.clock import Clock
from nephos.errors import NephosError
from nephos.model import Health, Instance, InstanceState
from nephos.providers.base import Provider, ProviderStatus

__all__ = [
    "Inventory",
    "ProviderHealth",
    "collect_inventory",
    "instance_health",
    "provider_health",
]

log = logging.getLogger(__name__)

# The provider's own health signal, by word (EC2 status checks, Vultr server_status, ...).
_GOOD_SIGNALS = frozenset({"", "ok", "none", "passed", "healthy"})
_BAD_SIGNALS = frozenset({"impaired", "failed", "unhealthy", "error"})
_STATE_HEALTH = {
    InstanceState.PENDING: Health.DEGRADED,
    InstanceState.MAINTENANCE: Health.DEGRADED,
    InstanceState.STOPPING: Health.UNHEALTHY,
    InstanceState.STOPPED: Health.UNHEALTHY,
    InstanceState.SUSPENDED: Health.UNHEALTHY,
    InstanceState.ERROR: Health.UNHEALTHY,
    InstanceState.UNKNOWN: Health.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every instance the providers listed, and one status per provider."""

    instances: tuple[Instance, ...]
    statuses: tuple[ProviderStatus, ...]
    collected_at: datetime

    @property
    def all_unavailable(self) -> bool:
        """Whether there were providers and none of them answered."""
        return bool(self.statuses) and not any(s.available for s in self.statuses)


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """One provider's instances tallied by health; terminated instances are not counted."""

    provider: str
    healthy: int = 0
    degraded: int = 0
    unhealthy: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        """Instances counted (terminated and terminating ones are not)."""
        return self.healthy + self.degraded + self.unhealthy + self.unknown

    @property
    def percent(self) -> float | None:
        """The healthy share in percent, or None with nothing counted."""
        return 100.0 * self.healthy / self.total if self.total else None

    @property
    def health(self) -> Health:
        """The worst health among the counted instances; healthy with none."""
        present = [
            health
            for health, count in (
                (Health.HEALTHY, self.healthy),
                (Health.DEGRADED, self.degraded),
                (Health.UNHEALTHY, self.unhealthy),
                (Health.UNKNOWN, self.unknown),
            )
            if count
        ]
        return Health.worst(present)


def instance_health(instance: Instance) -> Health | None:
    """The health one instance counts as, or None when it leaves the totals.

    Running with a good (or no) health signal is healthy, running with an impaired one is
    unhealthy, and any other signal (initializing, insufficient data) is degraded. Pending and
    maintenance are degraded; stopping, stopped, suspended and error are unhealthy; terminating
    and terminated instances are gone and not counted.
    """
    if instance.state in (InstanceState.TERMINATED, InstanceState.TERMINATING):
        return None
    if instance.state is InstanceState.RUNNING:
        signal = (instance.health_signal or "").strip().lower()
        if signal in _GOOD_SIGNALS:
            return Health.HEALTHY
        return Health.UNHEALTHY if signal in _BAD_SIGNALS else Health.DEGRADED
    return _STATE_HEALTH[instance.state]


def provider_health(instances: Iterable[Instance]) -> dict[str, ProviderHealth]:
    """Health tallies per provider, in the order providers first appear in ``instances``.

    A provider whose instances are all terminated appears with a total of 0.
    """
    counts: dict[str, dict[Health, int]] = {}
    for instance in instances:
        tally = counts.setdefault(instance.provider, dict.fromkeys(Health, 0))
        health = instance_health(instance)
        if health is not None:
            tally[health] += 1
    return {
        name: ProviderHealth(
            provider=name,
            healthy=tally[Health.HEALTHY],
            degraded=tally[Health.DEGRADED],
            unhealthy=tally[Health.UNHEALTHY],
            unknown=tally[Health.UNKNOWN],
        )
        for name, tally in counts.items()
    }


async def collect_inventory(
    providers: Sequence[Provider], *, clock: Clock, timeout: float
) -> Inventory:
    """List every provider's instances concurrently.

    Args:
        providers: the providers to poll.
        clock: stamps ``checked_at`` and ``collected_at``.
        timeout: seconds each provider may take before it is marked unavailable.

    Returns:
        The instances of the providers that answered, and one status per provider in the
        order given. Never raises for a provider's failure.
    """
    answers = await asyncio.gather(*(_poll(p, timeout) for p in providers))
    now = clock.now()
    instances: list[Instance] = []
    statuses: list[ProviderStatus] = []
    for provider, (found, reason) in zip(providers, answers, strict=True):
        instances.extend(found)
        statuses.append(
            ProviderStatus(
                provider=provider.name,
                available=reason is None,
                checked_at=now,
                instances=len(found),
                reason=reason,
            )
        )
    return Inventory(tuple(instances), tuple(statuses), now)


async def _poll(provider: Provider, timeout: float) -> tuple[list[Instance], str | None]:
    """One provider's instances, or no instances and the reason why not."""
    try:
        async with asyncio.timeout(timeout):
            return await provider.list_instances(), None
    except TimeoutError:
        return [], f"{provider.name}: no answer within {timeout:g}s"
    except NephosError as exc:
        return [], str(exc)
    except Exception as exc:  # a bug in one adapter must not take the others down
        log.warning("provider %s failed unexpectedly", provider.name, exc_info=True)
        return [], f"{provider.name}: unexpected error ({type(exc).__name__})"
