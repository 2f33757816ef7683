"""The simulated cloud fleet: instances of AWS, Vultr, GCP and Azure that the simulators serve.

Plain mutable data, no I/O: :mod:`nephos.sim.clouds` (Vultr, GCP, Azure) and
:mod:`nephos.sim.ec2` (AWS) answer API requests from it, and the demo changes it while the
servers run (stopping an instance, say).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nephos.model import InstanceState

__all__ = ["CloudFleet", "CloudInstance", "MetricFn"]

MetricFn = Callable[[datetime], float]
"""A metric's value at a time: ``cpu_percent``, ``mem_percent``, ``bandwidth_in_bytes``..."""


@dataclass(slots=True)
class CloudInstance:
    """One simulated instance.

    ``region`` is a Vultr region (``ewr``), a GCP zone (``us-central1-a``) or an Azure
    location (``westeurope``). ``raw`` overrides how ``state`` is spelled in the API: Vultr
    ``status``/``power_status``/``server_status``, GCP ``status``, Azure ``power`` and
    ``provisioning`` (an empty ``power`` sends no PowerState; ``view: "none"`` sends no
    instance view at all). ``raw`` changes only the spelling: metrics follow ``state``
    (only a RUNNING instance reports CPU and memory). A TERMINATED instance is gone from
    every list.
    """

    provider: str
    id: str
    name: str
    region: str
    state: InstanceState = InstanceState.RUNNING
    raw: dict[str, str] = field(default_factory=dict)
    size: str = "small"
    public_ip: str | None = None
    private_ip: str | None = None
    vcpus: int = 1
    memory_mb: int = 1024
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    metrics: dict[str, MetricFn] = field(default_factory=dict)

    def metric(self, name: str, at: datetime, default: float = 0.0) -> float:
        """The value of metric ``name`` at ``at``, or ``default`` when it has no function."""
        fn = self.metrics.get(name)
        return fn(at) if fn is not None else default


class CloudFleet:
    """The simulated instances of every provider, in insertion order; mutable at run time."""

    def __init__(self, instances: Iterable[CloudInstance] = ()) -> None:
        self._instances: dict[tuple[str, str], CloudInstance] = {}
        for instance in instances:
            self.add(instance)

    def add(self, instance: CloudInstance) -> None:
        """Add (or replace) an instance."""
        self._instances[(instance.provider, instance.id)] = instance

    def remove(self, provider: str, instance_id: str) -> None:
        """Delete an instance outright (as Vultr does: it just vanishes)."""
        self._instances.pop((provider, instance_id), None)

    def get(self, provider: str, instance_id: str) -> CloudInstance:
        """The instance with this id.

        Raises:
            KeyError: there is none.
        """
        return self._instances[(provider, instance_id)]

    def set_state(self, provider: str, instance_id: str, state: InstanceState, **raw: str) -> None:
        """Move an instance to ``state``, optionally spelled with explicit raw fields.

        Raises:
            KeyError: there is no such instance.
        """
        instance = self.get(provider, instance_id)
        instance.state = state
        instance.raw = dict(raw)

    def of(self, provider: str) -> list[CloudInstance]:
        """The live (not terminated) instances of ``provider``."""
        return [
            i
            for (p, _), i in self._instances.items()
            if p == provider and i.state is not InstanceState.TERMINATED
        ]
