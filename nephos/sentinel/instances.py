"""Instance health in the sentinel: the configured providers polled, their instances judged.

Each provider is polled on its own interval (``providers.<name>.interval``, else
``sentinel.interval``). Instances whose state or health signal changed are written to the hot
store (each write is an ``instance`` event), plus every instance once per refresh period so
that the store never goes stale; a quiet fleet keeps the change feed quiet. Each instance is
shown to the alert book, which opens, resolves or quietly closes its alert. Provider metrics
for the last interval go through the sentinel's spooling writer and to :attr:`on_metrics`.
A provider that fails is marked unavailable with the reason, logged once per outage, and the
others carry on. Targets that name an instance (``Target.instance``) get it as their root
cause while it is down. The checks themselves live in ``runner.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from nephos.clock import Clock
from nephos.config.types import Config
from nephos.errors import NephosError
from nephos.model import Alert, CheckResult, Instance, InstanceState, MetricPoint, Target
from nephos.providers import Provider, ProviderStatus, build_providers
from nephos.providers.inventory import collect_inventory
from nephos.sentinel.alert_instances import cause_text, is_down
from nephos.sentinel.alerts import AlertBook
from nephos.store.base import HotStore
from nephos.store.spool import SpoolingWriter

__all__ = [
    "PROVIDER_STATUS_KEY",
    "InstanceWatcher",
    "MetricSink",
    "read_provider_statuses",
]

log = logging.getLogger(__name__)

PROVIDER_STATUS_KEY = "sentinel:providers"
"""The hot store's state key under which the last status of every provider is kept."""

MetricSink = Callable[[list[MetricPoint]], None]
"""Receives the provider metric points of each poll, once they are stored or spooled."""

_Key = tuple[str, str]  # (provider, instance id)
_METRIC_LOOKBACK = 300.0  # seconds of metrics asked for at least, to catch late points


def _key(instance: Instance) -> _Key:
    return (instance.provider, instance.id)


def _changed(old: Instance | None, new: Instance) -> bool:
    """Whether ``new`` says something the store does not know yet (``updated_at`` aside)."""
    if old is None:
        return True
    return dataclasses.replace(old, updated_at=None) != dataclasses.replace(new, updated_at=None)


class InstanceWatcher:
    """Polls providers, stores their instances and metrics, and feeds the alert book.

    Args:
        providers: the providers to poll (closed by :meth:`close`).
        store: the hot store (known instances are read from it at :meth:`load`).
        writer: the sentinel's spooling writer: nothing accepted is lost while the store is
            down.
        clock: paces the polls and stamps statuses.
        book: returns the alert book in force (it is replaced on a config reload).
        intervals: seconds between polls, per provider name.
        default_interval: seconds between polls of a provider without its own interval.
        on_alert: receives every instance alert opened, changed or closed.
        on_commit: called after instances or metrics reached the store (wakes the hub).
        refresh: seconds after which every instance is written again, changed or not.
        timeout: seconds a provider may take to list its instances (and, apart, its metrics).
    """

    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        store: HotStore,
        writer: SpoolingWriter,
        clock: Clock,
        book: Callable[[], AlertBook],
        intervals: Mapping[str, float] | None = None,
        default_interval: float = 120.0,
        on_alert: Callable[[Alert], None] | None = None,
        on_commit: Callable[[], None] | None = None,
        refresh: float = 900.0,
        timeout: float = 30.0,
    ) -> None:
        self.providers = tuple(providers)
        self.on_metrics: MetricSink | None = None
        """Called with each poll's metric points once they are written (analytics set it)."""
        self.statuses: dict[str, ProviderStatus] = {}
        """The last status of every polled provider, by name."""
        self._store = store
        self._writer = writer
        self._clock = clock
        self._book = book
        self._intervals = dict(intervals or {})
        self._default_interval = default_interval
        self._on_alert = on_alert
        self._on_commit = on_commit
        self._refresh = refresh
        self._timeout = timeout
        self._known: dict[_Key, Instance] = {}
        self._refreshed: dict[str, float] = {}  # provider -> monotonic time of the last full write
        self._last_point: dict[tuple[str, str, str], datetime] = {}
        self._metrics_failing: set[str] = set()
        self._saved_statuses: dict[str, tuple[bool, str | None, int]] | None = None

    @classmethod
    def for_config(
        cls,
        config: Config,
        *,
        store: HotStore,
        writer: SpoolingWriter,
        clock: Clock,
        book: Callable[[], AlertBook],
        **kwargs: Any,
    ) -> InstanceWatcher:
        """A watcher over the providers of ``config``, with their intervals.

        Raises:
            ConfigError: a configured provider is not available in this install.
        """
        providers = build_providers(config, clock=clock)
        intervals = {
            p.name: p.options["interval"].total_seconds()
            for p in providers
            if isinstance(p.options.get("interval"), timedelta)
        }
        return cls(
            providers,
            store=store,
            writer=writer,
            clock=clock,
            book=book,
            intervals=intervals,
            default_interval=config.sentinel.interval.total_seconds(),
            **kwargs,
        )

    # ------------------------------------------------------------------ reading

    def instances(self) -> list[Instance]:
        """Every instance as last polled (or as stored, before the first poll)."""
        return list(self._known.values())

    def interval(self, provider: str) -> float:
        """Seconds between two polls of ``provider``."""
        return self._intervals.get(provider, self._default_interval)

    def find(self, target: Target) -> Instance | None:
        """The instance ``target`` names (by name or id), preferring the target's provider."""
        wanted = target.instance
        if not wanted:
            return None
        matches = [i for i in self._known.values() if wanted in (i.name, i.id)]
        matches.sort(
            key=lambda i: (i.provider != target.provider, i.state is InstanceState.TERMINATED)
        )
        return matches[0] if matches else None

    def root_cause(self, target: Target) -> Alert | None:
        """The open alert of the instance ``target`` runs on, while that instance is down.

        The alert book's ``root_cause`` hook: alerts it returns suppress the target's own.
        """
        instance = self.find(target)
        if instance is None or not is_down(instance):
            return None
        return self._book().instance_alert(instance)

    def explain(self, target: Target, result: CheckResult) -> CheckResult:
        """``result`` with its reason naming the cause when it failed while its instance is down.

        E.g. ``[STATUS] was 503; caused by instance web-1 (aws, us-east-1) being stopped``.
        """
        if result.success:
            return result
        instance = self.find(target)
        if instance is None or not is_down(instance):
            return result
        cause = f"caused by {cause_text(instance)}"
        reason = f"{result.reason}; {cause}" if result.reason else cause
        return dataclasses.replace(result, reason=reason)

    # ------------------------------------------------------------------ polling

    async def load(self) -> None:
        """Read the instances the store knows, so that a restart judges changes, not news.

        Raises:
            StoreError: the store could not be read.
        """
        names = {p.name for p in self.providers}
        for instance in await self._store.instances():
            if instance.provider in names and instance.state is not InstanceState.TERMINATED:
                self._known.setdefault(_key(instance), instance)

    async def run(self) -> None:
        """Poll every provider on its own interval until cancelled."""
        if self.providers:
            await asyncio.gather(*(self._loop(p) for p in self.providers))

    async def _loop(self, provider: Provider) -> None:
        every = self.interval(provider.name)
        while True:
            started = self._clock.monotonic()
            try:
                await self.poll(provider)
            except NephosError as exc:  # the store refused: the next poll tries again
                log.error("provider %s: poll not recorded: %s", provider.name, exc)
            except Exception:  # a bug in one poll must not end polling, nor the checks
                log.exception("provider %s: poll failed", provider.name)
            await self._clock.sleep(max(0.0, every - (self._clock.monotonic() - started)))

    async def poll_all(self) -> list[ProviderStatus]:
        """Poll every provider once, concurrently; their statuses.

        Raises:
            StoreError: the store refused the instances or the alert changes.
        """
        return list(await asyncio.gather(*(self.poll(p) for p in self.providers)))

    async def poll(self, provider: Provider) -> ProviderStatus:
        """Poll one provider: instances stored and judged, metrics stored and handed on.

        Raises:
            StoreError: the store refused the instances or the alert changes (a store that is
                only unavailable spools instead).
        """
        inventory = await collect_inventory([provider], clock=self._clock, timeout=self._timeout)
        status = inventory.statuses[0]
        self._note_status(status)
        if status.available:
            await self._record(provider.name, list(inventory.instances))
            await self._metrics(provider, inventory.collected_at)
        await self._save_statuses()
        return status

    def _note_status(self, status: ProviderStatus) -> None:
        before = self.statuses.get(status.provider)
        self.statuses[status.provider] = status
        if not status.available and (before is None or before.available):
            # Once per outage: a dead provider polled every 30 s must not flood the log.
            log.warning("provider %s unavailable: %s", status.provider, status.reason)
        elif status.available and before is not None and not before.available:
            log.info("provider %s available again", status.provider)

    async def _record(self, provider: str, found: list[Instance]) -> None:
        now = self._clock.monotonic()
        full = now - self._refreshed.get(provider, float("-inf")) >= self._refresh
        seen = {_key(i) for i in found}
        # Listed no more (Vultr deletes outright, EC2 forgets after an hour): terminated.
        gone = [
            dataclasses.replace(i, state=InstanceState.TERMINATED, updated_at=self._clock.now())
            for k, i in self._known.items()
            if k[0] == provider and k not in seen
        ]
        current = found + gone
        writes = [i for i in current if full or _changed(self._known.get(_key(i)), i)]
        if writes:
            if await self._writer.write_instances(writes):
                self._committed()
            if full:
                self._refreshed[provider] = now
        book = self._book()
        for instance in current:
            previous = self._known.get(_key(instance))
            alert = await book.observe_instance(instance, previous)
            if alert is not None:
                self._committed()
                if self._on_alert is not None:
                    self._on_alert(alert)
            if instance.state is InstanceState.TERMINATED:
                self._known.pop(_key(instance), None)
            else:
                self._known[_key(instance)] = instance

    async def _metrics(self, provider: Provider, now: datetime) -> None:
        if not provider.supports_metrics:
            return
        running = [
            i
            for i in self._known.values()
            if i.provider == provider.name and i.state is InstanceState.RUNNING
        ]
        # A window longer than the interval: metric APIs publish late (CloudWatch by minutes)
        # and in periods; points already taken are dropped per series below.
        start = now - timedelta(seconds=max(self.interval(provider.name), _METRIC_LOOKBACK))
        if not running:
            return
        try:
            async with asyncio.timeout(self._timeout):
                points = await provider.fetch_metrics(running, start=start, end=now)
        except (NephosError, TimeoutError) as exc:
            if provider.name not in self._metrics_failing:
                log.warning("provider %s: metrics not read: %s", provider.name, exc or "timeout")
                self._metrics_failing.add(provider.name)
            return
        self._metrics_failing.discard(provider.name)
        points = self._fresh(points)
        if not points:
            return
        if await self._writer.write_metrics(points):
            self._committed()
        if self.on_metrics is not None:
            try:
                self.on_metrics(points)
            except Exception:
                log.exception("metric observer raised")  # analytics must not stop polling

    def _fresh(self, points: list[MetricPoint]) -> list[MetricPoint]:
        """The points newer than the newest one already taken of their series."""
        fresh: list[MetricPoint] = []
        for point in sorted(points, key=lambda p: p.ts):
            series = (point.provider, point.instance, point.metric)
            last = self._last_point.get(series)
            if last is None or point.ts > last:
                self._last_point[series] = point.ts
                fresh.append(point)
        return fresh

    async def record_metrics(self, points: list[MetricPoint]) -> None:
        """Store metric points from another source (a host agent) the way provider points are.

        Raises:
            SpoolFull: the store is down and the spool is full.
            StoreError: the store refused them.
        """
        if not points:
            return
        if await self._writer.write_metrics(points):
            self._committed()
        if self.on_metrics is not None:
            self.on_metrics(points)

    async def _save_statuses(self) -> None:
        # Written when a status changes, not on every poll: checked_at is when it last did.
        payload = {n: (s.available, s.reason, s.instances) for n, s in self.statuses.items()}
        if payload == self._saved_statuses:
            return
        stored = {
            name: {"available": s.available, "reason": s.reason, "instances": s.instances}
            | {"checked_at": s.checked_at.isoformat()}
            for name, s in self.statuses.items()
        }
        try:
            await self._store.set_state(PROVIDER_STATUS_KEY, stored)
        except NephosError as exc:
            log.warning("provider statuses not stored yet: %s", exc)
            return
        self._saved_statuses = payload

    def _committed(self) -> None:
        if self._on_commit is not None:
            self._on_commit()

    async def close(self) -> None:
        """Close every provider's clients."""
        for provider in self.providers:
            try:
                await provider.close()
            except Exception:  # closing one must not leave the others open
                log.warning("provider %s did not close cleanly", provider.name, exc_info=True)


async def read_provider_statuses(store: HotStore) -> list[ProviderStatus]:
    """The status of every provider the sentinel polls, as stored when it last changed.

    For ``nephos status``: unavailable providers carry their reason; ``checked_at`` is the
    poll at which the status last changed.

    Raises:
        StoreError: the store could not be read.
    """
    stored = await store.get_state(PROVIDER_STATUS_KEY)
    if not isinstance(stored, dict):
        return []
    out: list[ProviderStatus] = []
    for name, value in stored.items():
        if not isinstance(value, dict):
            continue
        try:
            checked = datetime.fromisoformat(str(value.get("checked_at")))
        except ValueError:
            continue
        out.append(
            ProviderStatus(
                provider=str(name),
                available=bool(value.get("available")),
                checked_at=checked,
                instances=int(value.get("instances") or 0),
                reason=value.get("reason"),
            )
        )
    return out
