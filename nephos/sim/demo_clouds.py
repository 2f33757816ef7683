"""The demo's clouds: simulated AWS, Vultr, GCP and Azure APIs on loopback, with incidents.

Vultr, GCP and Azure are served by :class:`~nephos.sim.clouds.CloudSim`, AWS (EC2 and
CloudWatch) by :class:`~nephos.sim.ec2.Ec2Sim`, both from one :class:`CloudFleet`; nothing
needs moto. The real provider adapters read them, with only base URLs and credentials changed. The
instances' metrics carry incidents for the analytics to find: a memory leak (Azure
``reports-1``), a CPU spike (GCP ``search-1``), a disk filling up (``disk_percent`` of AWS
``db-1``, reported as a host agent would) and a stopped instance (Vultr ``web-1``) whose
website then fails. All noise is seeded. :mod:`nephos.sim.fleet` wires this into the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from nephos.clock import Clock
from nephos.model import InstanceState, MetricPoint
from nephos.sim.clouds import CloudFleet, CloudInstance, CloudSim
from nephos.sim.ec2 import Ec2Sim

__all__ = ["AWS_REGIONS", "WEB_INSTANCE", "DemoClouds"]

log = logging.getLogger(__name__)

WEB_INSTANCE = "web-1"
"""The Vultr instance that the demo stops now and then; the ``shop-web`` target runs on it."""

AWS_REGIONS = ("us-east-1", "eu-west-1")

_FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "nephos-demo", "AWS_SECRET_ACCESS_KEY": "nephos-demo"}
_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE")

Shape = Callable[[float], float]
"""A metric's value at ``t`` seconds after the demo started."""


class _Series:
    """A seeded, noisy metric: a shape of time plus noise that repeats for a given second."""

    def __init__(self, seed: str, start: datetime, shape: Shape, noise: float = 2.0) -> None:
        self._seed, self._start, self._shape, self._noise = seed, start, shape, noise

    def __call__(self, at: datetime) -> float:
        t = (at - self._start).total_seconds()
        jitter = random.Random(f"{self._seed}:{int(t)}").gauss(0.0, self._noise)
        return round(min(100.0, max(0.0, self._shape(t) + jitter)), 2)


def _steady(level: float) -> Shape:
    return lambda t: level + 4.0 * math.sin(t / 37.0)


def _spike(level: float, at: float, length: float, period: float) -> Shape:
    """``level``, then near 95 % for ``length`` seconds from ``at``, every ``period``."""
    return lambda t: 95.0 if at <= t % period < at + length else level + 3.0 * math.sin(t / 23.0)


def _leak(low: float, high: float, period: float) -> Shape:
    """A leak: climbs from ``low`` to ``high`` over ``period`` seconds, then a restart."""
    return lambda t: low + (high - low) * ((t % period) / period)


def _filling(start: float, per_second: float) -> Shape:
    return lambda t: min(99.5, start + per_second * t)


@contextlib.contextmanager
def _demo_credentials() -> Iterator[None]:
    """Fake AWS keys for the loopback stand-in, so no real credential is ever sent to it."""
    saved = {name: os.environ.get(name) for name in (*_FAKE_KEYS, *_CLEARED)}
    os.environ.update(_FAKE_KEYS)
    for name in _CLEARED:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class DemoClouds:
    """The demo's instances on four simulated clouds, and the script of their incidents.

    Args:
        seed: seeds every metric's noise.
        clock: the time source of metrics and incidents.
        interval: how often the incidents script runs (and the providers are polled).
        with_aws: serve AWS (EC2 and CloudWatch) beside the other clouds.
    """

    def __init__(
        self,
        *,
        seed: int,
        clock: Clock,
        interval: timedelta,
        with_aws: bool = True,
    ) -> None:
        self._seed = seed
        self._clock = clock
        self._interval = interval
        self._start = clock.now()
        self._started_mono = clock.monotonic()
        self._stopped_since: float | None = None
        self.fleet = CloudFleet(self._cloud_instances())
        if with_aws:
            for instance in self._aws_instances():
                self.fleet.add(instance)
        self.sim = CloudSim(self.fleet, clock=clock)
        self.aws: Ec2Sim | None = None
        """The EC2 and CloudWatch server, while it runs."""
        self._want_aws = with_aws
        self._credentials: contextlib.ExitStack | None = None
        self.aws_note: str | None = None
        """Why AWS is missing from the demo, in one line (None: it is there)."""
        self._disk = self._series("disk", _filling(62.0, 0.05), noise=0.3)

    def _series(self, name: str, shape: Shape, noise: float = 2.0) -> _Series:
        return _Series(f"{self._seed}:{name}", self._start, shape, noise)

    def _cloud_instances(self) -> list[CloudInstance]:
        s = self._series
        return [
            CloudInstance(
                "vultr", "3f1c7a52-0b4e-4e7c-9d51-6a0e2f2f1a01", WEB_INSTANCE, "ewr",
                size="vc2-1c-2gb", vcpus=1, memory_mb=2048, public_ip="192.0.2.10",
                tags={"role": "web"},
            ),
            CloudInstance(
                "vultr", "3f1c7a52-0b4e-4e7c-9d51-6a0e2f2f1a02", "cache-1", "fra",
                size="vc2-2c-4gb", vcpus=2, memory_mb=4096, public_ip="192.0.2.11",
            ),
            CloudInstance(
                "gcp", "4410236658190453211", "search-1", "europe-west1-b",
                size="e2-standard-2", vcpus=2, memory_mb=8192,
                metrics={"cpu_percent": s("search-1:cpu", _spike(22.0, 40.0, 60.0, 300.0))},
            ),
            CloudInstance(
                "gcp", "4410236658190453212", "batch-1", "us-central1-a",
                size="e2-standard-4", vcpus=4, memory_mb=16384,
                metrics={"cpu_percent": s("batch-1:cpu", _steady(45.0))},
            ),
            CloudInstance(
                "azure", "6f0c2a3e-1c55-4a6d-8a5e-2b9c1f7d0e01", "reports-1", "westeurope",
                size="Standard_B2s", vcpus=2, memory_mb=4096,
                metrics={
                    "cpu_percent": s("reports-1:cpu", _steady(30.0)),
                    "mem_percent": s("reports-1:mem", _leak(35.0, 96.0, 420.0), noise=0.5),
                },
            ),
            CloudInstance(
                "azure", "6f0c2a3e-1c55-4a6d-8a5e-2b9c1f7d0e02", "jobs-1", "northeurope",
                size="Standard_B2s", vcpus=2, memory_mb=4096,
                metrics={
                    "cpu_percent": s("jobs-1:cpu", _steady(18.0)),
                    "mem_percent": s("jobs-1:mem", _steady(50.0)),
                },
            ),
        ]  # fmt: skip

    def _aws_instances(self) -> list[CloudInstance]:
        s = self._series
        return [
            CloudInstance(
                "aws", "i-0a4c1e5f2b3d6e701", "api-1", "us-east-1a", size="t3.medium",
                vcpus=2, memory_mb=4096, private_ip="10.0.1.10", public_ip="203.0.113.10",
                tags={"Name": "api-1", "env": "demo"},
                metrics={
                    "cpu_percent": s("api-1:cpu", _steady(35.0)),
                    "mem_percent": s("api-1:mem", _steady(55.0)),
                },
            ),
            CloudInstance(
                "aws", "i-0a4c1e5f2b3d6e702", "db-1", "us-east-1b", size="m5.large",
                vcpus=2, memory_mb=8192, private_ip="10.0.2.20",
                tags={"Name": "db-1", "env": "demo"},
                metrics={
                    "cpu_percent": s("db-1:cpu", _steady(25.0)),
                    "mem_percent": s("db-1:mem", _steady(70.0)),
                },
            ),
            CloudInstance(
                "aws", "i-0a4c1e5f2b3d6e703", "pay-1", "eu-west-1a", size="t3.small",
                vcpus=2, memory_mb=2048, private_ip="10.1.0.30",
                tags={"Name": "pay-1", "env": "demo"},
                metrics={"cpu_percent": s("pay-1:cpu", _steady(15.0))},
            ),
        ]  # fmt: skip

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Serve the clouds on loopback.

        Raises:
            OSError: a port could not be bound.
        """
        await self.sim.start()
        if not self._want_aws:
            self.aws_note = "AWS left out of this demo"
            return
        # The adapter signs its requests: give boto3 fake keys, never the machine's own.
        self._credentials = contextlib.ExitStack()
        self._credentials.enter_context(_demo_credentials())
        aws = Ec2Sim(self.fleet, clock=self._clock)
        await aws.start()
        self.aws = aws

    async def stop(self) -> None:
        """Stop every server and restore the environment."""
        await self.sim.stop()
        if self.aws is not None:
            await self.aws.stop()
            self.aws = None
        if self._credentials is not None:
            self._credentials.close()
            self._credentials = None

    def provider_options(self) -> dict[str, dict[str, Any]]:
        """The cleaned ``providers`` section pointing the real adapters at these servers."""
        from nephos.providers import provider_class

        raw: dict[str, dict[str, Any]] = dict(self.sim.provider_options())
        if self.aws is not None:
            raw["aws"] = self.aws.provider_options(list(AWS_REGIONS))
        out: dict[str, dict[str, Any]] = {}
        for name, options in raw.items():
            cleaned = provider_class(name).validate_options(options)
            cleaned["interval"] = self._interval
            out[name] = cleaned
        return out

    # ------------------------------------------------------------------ incidents

    def web_down_for(self) -> float | None:
        """Seconds since ``web-1`` was stopped, or None while it runs."""
        if self._stopped_since is None:
            return None
        return self._clock.monotonic() - self._stopped_since

    def step(self) -> None:
        """Advance the script: stop ``web-1`` 20 s in, for 60 s, every 3 minutes."""
        t = (self._clock.monotonic() - self._started_mono) % 180.0
        down = 20.0 <= t < 80.0
        web = next(i for i in self.fleet.of("vultr") if i.name == WEB_INSTANCE)
        if down and web.state is InstanceState.RUNNING:
            self.fleet.set_state("vultr", web.id, InstanceState.STOPPED)
            self._stopped_since = self._clock.monotonic()
            log.info("demo: instance %s stopped", WEB_INSTANCE)
        elif not down and web.state is InstanceState.STOPPED:
            self.fleet.set_state("vultr", web.id, InstanceState.RUNNING)
            self._stopped_since = None
            log.info("demo: instance %s running again", WEB_INSTANCE)

    def agent_points(self, at: datetime) -> list[MetricPoint]:
        """What a host agent reports: the disk of ``db-1`` (AWS), or of ``cache-1`` (Vultr)
        when the demo runs without AWS, filling up."""
        name, provider = ("db-1", "aws") if self.aws is not None else ("cache-1", "vultr")
        instance = next(i.id for i in self.fleet.of(provider) if i.name == name)
        point = MetricPoint(instance, "disk_percent", "percent", at, self._disk(at), provider)
        return [point]

    async def run(self, record: Callable[[list[MetricPoint]], Any]) -> None:
        """Run the incidents until cancelled: every interval, step the script and hand the
        agent's points to ``record`` (awaited when it is a coroutine). AWS metrics need no
        publishing: the CloudWatch simulator computes them from the fleet when asked."""
        every = self._interval.total_seconds()
        while True:
            self.step()
            now = self._clock.now()
            outcome = record(self.agent_points(now))
            if asyncio.iscoroutine(outcome):
                await outcome
            await self._clock.sleep(every)
