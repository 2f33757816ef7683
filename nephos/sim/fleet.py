"""The demo fleet: simulated services on loopback that move, and the sentinel watching them.

HTTP endpoints whose latency drifts (a seeded random walk), one that degrades over a few
minutes (past 1 s, then past 3 s), one that fails in 5xx bursts, an HTTPS endpoint whose
certificate expires in a few days, a DNS name on a local DNS server and a TCP service; and
simulated AWS, Vultr, GCP and Azure APIs whose instances the sentinel polls
(:mod:`nephos.sim.demo_clouds`), with a shop website on the Vultr instance that the demo stops
now and then. The servers come from ``nephos.sim``; ``nephos demo`` is a face over
:func:`run_demo`, and over :class:`~nephos.sim.background.BackgroundDemo` when the terminal UI
owns the main thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from nephos.clock import Clock, SystemClock
from nephos.config.types import (
    Config,
    HotStoreConfig,
    HubConfig,
    NotifierConfig,
    SentinelConfig,
    StorageConfig,
)
from nephos.model import (
    AlertRule,
    CheckKind,
    DnsOptions,
    Health,
    Target,
    TcpOptions,
    TlsOptions,
)
from nephos.sentinel.events import EventSink
from nephos.sim.certs import CertificateAuthority, validity
from nephos.sim.demo_clouds import WEB_INSTANCE, DemoClouds
from nephos.sim.dns_server import DnsSim
from nephos.sim.http_server import Handler, HttpSim, Respond, ServerTls
from nephos.sim.tcp_server import TcpSim

if TYPE_CHECKING:
    from nephos.sentinel.runner import Sentinel

__all__ = ["DemoFleet", "run_demo"]

log = logging.getLogger(__name__)

DNS_NAME = "db.demo.nephos.test"
DNS_ANSWER = "10.20.0.5"


class _Walk:
    """A latency that drifts: a seeded multiplicative random walk between two bounds."""

    def __init__(self, rng: random.Random, start: float, low: float, high: float) -> None:
        self._rng, self._value, self._low, self._high = rng, start, low, high

    def __call__(self) -> float:
        self._value *= math.exp(self._rng.gauss(0.0, 0.18))
        self._value = min(self._high, max(self._low, self._value))
        return self._value


@dataclass(frozen=True, slots=True)
class _Degrading:
    """A latency that climbs from 50 ms past 1 s and then 3 s over ``period`` seconds."""

    clock: Clock
    since: float
    period: float

    def __call__(self) -> float:
        progress = (self.clock.monotonic() - self.since) / self.period
        return min(4.5, 0.05 + 4.0 * progress * progress)


class DemoFleet:
    """The simulated services; :meth:`targets` describes them as the sentinel should see them.

    Args:
        seed: seeds every random walk and burst, so that two demos with one seed look alike.
        clock: the time source of latencies and bursts.
        interval: the check interval of every target.
        degrade_period: seconds over which the degrading endpoint goes from fast to > 3 s.
        workdir: where the demo CA and certificate files go (a temporary directory if None).
        with_aws: serve AWS (EC2 and CloudWatch, by nephos.sim.ec2) beside the other clouds.
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        clock: Clock | None = None,
        interval: timedelta = timedelta(seconds=5),
        degrade_period: float = 240.0,
        workdir: Path | None = None,
        with_aws: bool = True,
    ) -> None:
        self._rng = random.Random(seed)
        self._seed = seed
        self._with_aws = with_aws
        self._clock: Clock = clock or SystemClock()
        self._interval = interval
        self._degrade_period = degrade_period
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="nephos-demo-")
            workdir = Path(self._tmp.name)
        self._workdir = workdir
        self.web = HttpSim(clock=self._clock)
        self.dns = DnsSim({(DNS_NAME, "A"): [DNS_ANSWER]})
        self.tcp = TcpSim(banner=b"SSH-2.0-nephos-demo\r\n")
        self.secure: HttpSim | None = None
        self._ca_file: Path | None = None
        self._started_at = 0.0
        self.clouds: DemoClouds | None = None
        """The simulated clouds, once started."""

    async def start(self) -> None:
        """Generate the certificates and start every server on loopback.

        Raises:
            OSError: a port could not be bound or a file written.
        """
        self._started_at = self._clock.monotonic()
        rng = self._rng
        self.web.add_route(
            "/orders", Respond(200, json={"ok": True}, delay=_Walk(rng, 0.08, 0.01, 0.6))
        )
        self.web.add_route(
            "/users", Respond(200, json={"ok": True}, delay=_Walk(rng, 0.05, 0.01, 0.5))
        )
        self.web.add_route(
            "/search", Respond(200, json={"ok": True}, delay=_Walk(rng, 0.2, 0.03, 0.9))
        )
        slow = _Degrading(self._clock, self._started_at, self._degrade_period)
        self.web.add_route("/reports", Respond(200, json={"ok": True}, delay=slow))
        self.web.add_route("/payments", self._bursty(_Walk(rng, 0.06, 0.01, 0.4)))
        self.web.add_route("/shop", self._shop(_Walk(rng, 0.05, 0.01, 0.3)))
        await self.web.start()
        await self.dns.start()
        await self.tcp.start()
        ca_file, chain, key = await asyncio.to_thread(self._certificates)
        self._ca_file = ca_file
        self.secure = HttpSim(tls=ServerTls(chain, key), clock=self._clock)
        self.secure.add_route(
            "/login", Respond(200, json={"ok": True}, delay=_Walk(rng, 0.04, 0.01, 0.3))
        )
        await self.secure.start()
        clouds = DemoClouds(
            seed=self._seed, clock=self._clock, interval=self._interval, with_aws=self._with_aws
        )
        await clouds.start()
        self.clouds = clouds

    async def stop(self) -> None:
        """Stop every server and remove the temporary files."""
        if self.clouds is not None:
            await self.clouds.stop()
        for server in (self.secure, self.web):
            if server is not None:
                await server.stop()
        await self.dns.stop()
        await self.tcp.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def _certificates(self) -> tuple[Path, Path, Path]:
        not_before, not_after = validity(3650)
        ca = CertificateAuthority("nephos demo CA", not_before=not_before, not_after=not_after)
        leaf_from, leaf_until = validity(4.0)  # expires in four days: reminders fire
        leaf = ca.issue(
            "localhost", sans=("localhost", "127.0.0.1"), not_before=leaf_from, not_after=leaf_until
        )
        files = leaf.write(self._workdir, "login")
        return ca.write(self._workdir, "demo-ca"), files.chain, files.key

    def _bursty(self, latency: _Walk) -> Handler:
        # Five-second slots; a slot fails (503) with a fixed seeded chance, so bursts of two or
        # three failing slots in a row happen every minute or two.
        seed = self._rng.random()

        async def handler(request: web.Request) -> web.StreamResponse:
            slot = int((self._clock.monotonic() - self._started_at) // 5)
            failing = random.Random(f"{seed}:{slot}").random() < 0.2
            await self._clock.sleep(latency())
            if failing:
                return web.json_response({"error": "upstream unavailable"}, status=503)
            return web.json_response({"ok": True})

        return handler

    def _shop(self, latency: _Walk) -> Handler:
        # The website on web-1: it fails an interval and a half after the instance stops, by
        # when a poll has seen the instance go down, so its first failure names the cause.
        grace = 1.5 * self._interval.total_seconds()

        async def handler(request: web.Request) -> web.StreamResponse:
            await self._clock.sleep(latency())
            down = self.clouds.web_down_for() if self.clouds is not None else None
            if down is not None and down >= grace:
                return web.json_response({"error": "connection refused upstream"}, status=502)
            return web.json_response({"ok": True})

        return handler

    def targets(self) -> tuple[Target, ...]:
        """The fleet's targets.

        Raises:
            RuntimeError: the fleet has not been started.
        """
        if self.secure is None or self._ca_file is None:
            raise RuntimeError("DemoFleet is not started")
        every = self._interval

        def http(name: str, url: str, provider: str, region: str, **kw: object) -> Target:
            return Target(
                name=name,
                kind=CheckKind.HTTP,
                address=url,
                interval=every,
                timeout=timedelta(seconds=6),
                provider=provider,
                region=region,
                conditions=("[STATUS] == 200",),
                **kw,  # type: ignore[arg-type]
            )

        return (
            http("orders-api", self.web.url("/orders"), "aws", "us-east-1"),
            http("users-api", self.web.url("/users"), "vultr", "ewr"),
            http("search-api", self.web.url("/search"), "gcp", "europe-west1"),
            http("reports-api", self.web.url("/reports"), "azure", "westeurope"),
            http("payments-api", self.web.url("/payments"), "aws", "eu-west-1"),
            http("shop-web", self.web.url("/shop"), "vultr", "ewr", instance=WEB_INSTANCE),
            http(
                "login-https",
                self.secure.url("/login"),
                "vultr",
                "fra",
                tls=TlsOptions(ca_file=str(self._ca_file)),
            ),
            Target(
                name="db-dns",
                kind=CheckKind.DNS,
                address=DNS_NAME,
                interval=every,
                timeout=timedelta(seconds=3),
                provider="static",
                dns=DnsOptions(resolvers=(self.dns.address,), expected=(DNS_ANSWER,)),
            ),
            Target(
                name="bastion-ssh",
                kind=CheckKind.TCP,
                address=self.tcp.address,
                interval=every,
                timeout=timedelta(seconds=3),
                provider="static",
                tcp=TcpOptions(expect="^SSH-2\\.0-"),
            ),
        )

    def config(self, store_path: str) -> Config:
        """A whole configuration for the fleet: short intervals, a store, a log notifier."""
        console = NotifierConfig(name="console", type="log", options={"level": "info"})
        return Config(
            storage=StorageConfig(hot=HotStoreConfig(path=store_path)),
            sentinel=SentinelConfig(
                interval=self._interval,
                failing_interval=self._interval / 2,
                default_alerts=(AlertRule(notify=("console",), failure_threshold=2),),
            ),
            targets=self.targets(),
            notifiers={"console": console},
            providers=self.clouds.provider_options() if self.clouds is not None else {},
        )


async def run_demo(
    *,
    store_path: str,
    on_event: EventSink | None = None,
    duration: float | None = None,
    seed: int = 7,
    interval: timedelta = timedelta(seconds=5),
    handle_signals: bool = False,
    clock: Clock | None = None,
    on_ready: Callable[[Sentinel], None] | None = None,
    serve: HubConfig | None = None,
    with_aws: bool = True,
) -> Health:
    """Start the fleet, watch it with the sentinel until ``duration`` passes or a stop signal,
    then stop everything; the fleet's health at the end.

    Args:
        store_path: the SQLite hot store file (created when missing).
        on_event: receives every result and alert change.
        duration: seconds to run; None runs until SIGINT or SIGTERM.
        seed: seeds the simulation.
        interval: the check interval of every target.
        handle_signals: stop gracefully on SIGINT and SIGTERM.
        clock: the time source (the system clock by default).
        on_ready: called with the sentinel before it starts (the CLI reads its alert book).
        serve: serve the live-stream hub with these settings (``sentinel.hub`` once it runs).
        with_aws: serve AWS (EC2 and CloudWatch) too.

    Raises:
        BackendError: the store could not be opened.
        StreamError: the hub's address could not be bound.
        OSError: a simulated server could not start.
    """
    from nephos.sentinel.runner import Sentinel
    from nephos.store import open_hot_store

    clock = clock or SystemClock()
    fleet = DemoFleet(seed=seed, clock=clock, interval=interval, with_aws=with_aws)
    await fleet.start()
    if fleet.clouds is not None and fleet.clouds.aws_note is not None:
        log.info("demo: %s", fleet.clouds.aws_note)
    try:
        config = fleet.config(store_path)
        store = open_hot_store(config.storage.hot, clock=clock)
        await store.open()
        try:
            sentinel = Sentinel(config, store=store, clock=clock, on_event=on_event)
            if on_ready is not None:
                on_ready(sentinel)
            timer = None
            script = None
            if fleet.clouds is not None:
                script = asyncio.create_task(fleet.clouds.run(sentinel.instances.record_metrics))
            if duration is not None:

                async def stop_later() -> None:
                    await clock.sleep(duration)
                    sentinel.stop()

                timer = asyncio.create_task(stop_later())
            try:
                await sentinel.run(handle_signals=handle_signals, serve=serve)
            finally:
                for task in (timer, script):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
            return sentinel.health()
        finally:
            await store.close()
    finally:
        await fleet.stop()
