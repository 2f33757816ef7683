"""The sentinel: the schedule, the probes, judgement, storage, alerts and reload, wired together.

Per check: the scheduler starts it, the probe set observes, ``classify`` judges, the
connectivity guard marks results taken while offline, flapping is marked, and the result goes
to the recorder (``recording.py``: batched writes, the alert book, events). Providers are
polled beside the checks (``instances.py``: instances, their alerts, provider metrics, root
causes). Output for people lives in the CLI; the schedule itself in ``scheduler.py``; what runs
alongside (metrics, hub, retention, signals) in ``services.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from nephos.clock import Clock
from nephos.config.types import Config, HubConfig
from nephos.errors import ConfigError
from nephos.model import CheckResult, Health, Target
from nephos.notify.dispatch import Dispatcher
from nephos.probes.base import Observation
from nephos.probes.classify import classify, compile_conditions
from nephos.probes.registry import ProbeSet
from nephos.sentinel.alerts import AlertBook
from nephos.sentinel.analytics import SentinelAnalytics
from nephos.sentinel.events import AlertEvent, EventSink
from nephos.sentinel.guard import ConnectivityGuard
from nephos.sentinel.instances import InstanceWatcher
from nephos.sentinel.metrics import SentinelMetrics, SentinelStats
from nephos.sentinel.recording import ResultRecorder
from nephos.sentinel.scheduler import Scheduler
from nephos.sentinel.services import (
    PURGE_EVERY,
    in_background,
    keep_retention,
    serve_metrics,
    stop_signals,
)
from nephos.store.base import HotStore

if TYPE_CHECKING:
    from nephos.config.reload import ConfigWatcher
    from nephos.stream.hub import Hub

__all__ = ["Sentinel"]

log = logging.getLogger(__name__)

_DRAIN_SECONDS = 10.0  # how long a stop waits for notifications still being delivered


class Sentinel:
    """Checks every configured target on its schedule, stores results and keeps the alert book.

    Args:
        config: the validated configuration.
        store: an opened hot store.
        clock: the time source for schedules, batching, alerts and retries.
        probes: the probe set; one is created (and closed) when not given.
        on_event: receives every stored result and every alert change.
        batch_interval: seconds between batch writes.
        batch_size: a batch is written at once when it reaches this many results.

    Raises:
        ConfigError: a notifier in the config cannot be built, or a configured provider is
            not available in this install.
    """

    def __init__(
        self,
        config: Config,
        *,
        store: HotStore,
        clock: Clock,
        probes: ProbeSet | None = None,
        on_event: EventSink | None = None,
        batch_interval: float = 0.1,
        batch_size: int = 500,
    ) -> None:
        self._config = config
        self._clock = clock
        self._probes = probes or ProbeSet()
        self._owns_probes = probes is None
        self._store = store
        self._dispatcher = Dispatcher(config.notifiers, clock=clock)
        self._recorder = ResultRecorder(
            store,
            config.storage.hot,
            clock=clock,
            book=self._new_book(config, self._dispatcher),
            on_event=on_event,
            batch_interval=batch_interval,
            batch_size=batch_size,
        )
        self._guard = ConnectivityGuard.for_targets(
            config.targets, clock=clock, all_fail=config.sentinel.offline_when_all_fail
        )
        self.metrics = SentinelMetrics(self._stats)
        """The Prometheus metrics; served when a metrics port is set."""
        self.analytics = SentinelAnalytics(
            lambda: self._config,
            store=store,
            clock=clock,
            dispatcher=lambda: self._dispatcher,
            registry=self.metrics.registry,
            on_alert=lambda alert: self._recorder.emit(AlertEvent(alert)),
            on_commit=self._wake_hub,
        )
        """Anomaly detection, forecasts and the ETL while :meth:`run` runs; providers hand
        their metric points to ``analytics.on_metrics``."""
        self._recorder.on_commit = self.analytics.notify
        self._scheduler = Scheduler(
            self._scheduled_check,
            clock=clock,
            concurrency=config.sentinel.concurrency,
            failing_interval=config.sentinel.failing_interval,
            # Past the probe set's own deadline (timeout + 1 s): only a check that ignores
            # cancellation is cut off here.
            timeout_grace=2.0,
            on_timeout=self._timed_out,
            on_start=lambda _target, jitter: self.metrics.observe_jitter(jitter),
        )
        self._recorder.tracked = {t.name for t in config.targets}
        self.instances = InstanceWatcher.for_config(
            config,
            store=store,
            writer=self._recorder.writer,
            clock=clock,
            book=lambda: self._recorder.book,
            on_alert=lambda alert: self._recorder.emit(AlertEvent(alert)),
            on_commit=self._wake_hub,
        )
        """The configured providers, polled for instances and metrics (``instances.py``)."""
        self.instances.on_metrics = self.analytics.on_metrics
        self._started = False
        self._stopping = False
        self.metrics_port: int | None = None
        """The port metrics are served on while :meth:`run` runs (None: not served)."""
        self.serving = asyncio.Event()
        """Set once :meth:`run` has its metrics server and hub up and starts the schedule."""

    # ------------------------------------------------------------------ reading

    @property
    def config(self) -> Config:
        """The configuration in force (it changes on reload)."""
        return self._config

    @property
    def scheduler(self) -> Scheduler:
        """The schedule, for jitter figures and tests."""
        return self._scheduler

    @property
    def alert_book(self) -> AlertBook:
        """The alert book."""
        return self._recorder.book

    @property
    def hub(self) -> Hub | None:
        """The live-stream hub served while :meth:`run` runs with ``serve`` (else None)."""
        return self._recorder.hub

    def latest(self) -> dict[str, CheckResult]:
        """The newest stored result of every target checked since start."""
        return dict(self._recorder.latest)

    def health(self) -> Health:
        """The worst health among the newest results (healthy before any)."""
        return Health.worst([r.health for r in self._recorder.latest.values()])

    # ------------------------------------------------------------------ running

    async def start(self) -> None:
        """Open the probes, replay the spool and restore the alert book; idempotent.

        Raises:
            StoreError: the store could not be read to restore the alert book.
        """
        if self._started:
            return
        self._started = True
        await self._probes.start()
        await self._recorder.writer.start()
        await self._recorder.book.load()
        await self.instances.load()

    async def run(
        self,
        *,
        metrics_port: int | None = None,
        handle_signals: bool = False,
        watch_config: bool = False,
        serve: HubConfig | None = None,
        purge_every: float = PURGE_EVERY,
    ) -> None:
        """Check on schedule until :meth:`stop`, then flush everything and close.

        Args:
            metrics_port: serve Prometheus metrics on 127.0.0.1 at this port (0: any free
                port); None uses the config's ``sentinel.metrics_port``.
            handle_signals: stop gracefully on SIGINT and SIGTERM.
            watch_config: reload the config file when it changes and on SIGHUP; a file that
                does not validate is logged and the running config stays.
            serve: serve the live-stream hub over this sentinel's store with these settings
                (see :attr:`hub`); it is woken after every committed batch, and its gauges
                join :attr:`metrics`.
            purge_every: seconds between hot-store retention passes (the first is at start):
                rows older than ``storage.hot.retention`` go, except events the ETL has not
                loaded yet.

        Raises:
            BackendError: the metrics port could not be bound, or the store could not be read.
            StreamError: the hub's address could not be bound.
            ConfigError: the hub would listen beyond loopback without a token.
        """
        port = metrics_port if metrics_port is not None else self._config.sentinel.metrics_port
        # Unwound last in, first out: the hub is stopped after the final flush (close), so
        # that connected clients see the last results.
        stack = contextlib.AsyncExitStack()
        with stop_signals(handle_signals, self.stop):
            try:
                await self.start()
                if serve is not None:
                    from nephos.stream.hub import serve_hub

                    registry = self.metrics.registry
                    # Points posted to the hub's POST /ingest share the results' spooling
                    # writer, so they too survive a store outage.
                    hub = serve_hub(
                        self._store,
                        serve,
                        clock=self._clock,
                        registry=registry,
                        writer=self._recorder.writer,
                    )
                    self._recorder.hub = await stack.enter_async_context(hub)
                stack.push_async_callback(self.close)
                await self.analytics.start(stack)  # stopped before close: no alert after it
                if port is not None:
                    self.metrics_port = await serve_metrics(stack, self.metrics, port)
                watcher = self._watcher() if watch_config else None
                if watcher is not None:
                    await watcher.start(self._config)
                    stack.push_async_callback(watcher.stop)
                in_background(stack, self._recorder.batcher.run())
                retention = self._config.storage.hot.retention
                purge = keep_retention(
                    self._store,
                    retention,
                    clock=self._clock,
                    every=purge_every,
                    etl=self._config.etl.enabled,
                )
                in_background(stack, purge)
                in_background(stack, self.instances.run())
                self._scheduler.set_targets(self._checked(self._config.targets))
                self.serving.set()
                if not self._stopping:
                    await self._scheduler.run()
            finally:
                await stack.aclose()
                await self.close()  # when start() or the hub failed before close was stacked
                self._recorder.hub = None
                self.serving.clear()

    async def run_once(self) -> Health:
        """Check every enabled target once, store everything, close; the worst health.

        Raises:
            StoreError: the store could not be read to restore the alert book.
        """
        try:
            await self.start()
            # Instances first, so that a target on a stopped instance is explained by it.
            await self.instances.poll_all()
            gate = asyncio.Semaphore(self._config.sentinel.concurrency)
            results: list[CheckResult] = []

            async def one(target: Target) -> None:
                async with gate:
                    obs = await self._probes.run(target)
                    results.append(self._judge(target, obs))

            await asyncio.gather(*(one(t) for t in self._checked(self._config.targets)))
            await self._recorder.flush()
            return Health.worst([r.health for r in results])
        finally:
            await self.close()

    def stop(self) -> None:
        """Stop starting checks; :meth:`run` lets in-flight ones end, flushes and returns.

        A second call (a second Ctrl-C) cancels the checks in flight instead of waiting.
        """
        self._stopping = True
        self._scheduler.stop()

    async def close(self) -> None:
        """Write what is batched, deliver pending notifications, release resources.

        Idempotent. Results the store cannot take stay in the on-disk spool for next start.
        """
        if not self._started:
            return
        self._started = False
        await self._recorder.close()
        await self._dispatcher.drain(_DRAIN_SECONDS)
        await self._dispatcher.close()
        if self._owns_probes:
            await self._probes.close()
        await self.instances.close()

    async def apply_config(self, config: Config) -> None:
        """Adopt a reloaded configuration without a restart.

        Changed, added and removed targets are rescheduled while the others keep their phase;
        the guard, concurrency and failing interval change for checks started from now on.
        When notifiers or alert settings changed, a new alert book takes over: its state
        lives in the store, so nothing firing is forgotten or repeated. A notifier that
        cannot be built is logged and the running notifiers stay.

        Args:
            config: the new, already validated configuration.
        """
        old = self._config
        self._config = config
        self._recorder.tracked = names = {t.name for t in config.targets}
        for name in [n for n in self._recorder.latest if n not in names]:
            del self._recorder.latest[name]
            self.metrics.forget(name)
        self._guard.configure(config.targets, all_fail=config.sentinel.offline_when_all_fail)
        self._scheduler.configure(
            concurrency=config.sentinel.concurrency,
            failing_interval=config.sentinel.failing_interval,
        )
        self._scheduler.set_targets(self._checked(config.targets))
        if old.notifiers != config.notifiers or old.sentinel != config.sentinel:
            await self._replace_alert_book(config)
        if old.providers != config.providers:
            log.warning("provider changes take effect at the next start of the sentinel")
        log.info("config applied: %d target(s)", len(config.targets))

    async def _replace_alert_book(self, config: Config) -> None:
        try:
            dispatcher = Dispatcher(config.notifiers, clock=self._clock)
        except ConfigError as exc:
            log.error("notifiers not reloaded, the running ones stay: %s", exc)
            return
        await self._recorder.flush_alert_state()  # the new book reads it from the store
        book = self._new_book(config, dispatcher)
        if self._started:
            await book.load()
        retired, self._dispatcher, self._recorder.book = self._dispatcher, dispatcher, book
        await retired.drain(_DRAIN_SECONDS)
        await retired.close()

    def _new_book(self, config: Config, dispatcher: Dispatcher) -> AlertBook:
        # batch_state: per-target state goes to the store once per batch (_batch_done).
        return AlertBook(
            self._store,
            dispatcher,
            clock=self._clock,
            settings=config.sentinel,
            batch_state=True,
            root_cause=lambda target: self.instances.root_cause(target),
        )

    def _watcher(self) -> ConfigWatcher | None:
        from nephos.config.reload import ConfigWatcher

        if self._config.source is None:
            return None

        async def changed(config: Config) -> None:
            await self.apply_config(config)

        async def rejected(exc: ConfigError) -> None:
            log.error("config not reloaded, the running one stays: %s", exc)

        return ConfigWatcher(self._config.source, changed, rejected, clock=self._clock)

    # ------------------------------------------------------------------ one check

    def _checked(self, targets: Iterable[Target]) -> list[Target]:
        """The targets this sentinel probes: enabled, of a kind the probe set runs."""
        kinds = self._probes.kinds
        return [t for t in targets if t.enabled and t.kind in kinds]

    async def _scheduled_check(self, target: Target) -> bool:
        result = self._judge(target, await self._probes.run(target))
        return not result.success

    async def _timed_out(self, target: Target, elapsed: float) -> None:
        error = f"check timed out after {elapsed:.1f}s"
        self._judge(target, Observation(timedelta(seconds=elapsed), error=error))

    def _judge(self, target: Target, obs: Observation) -> CheckResult:
        result = classify(target, obs, compile_conditions(target), now=self._clock.now())
        result = self.instances.explain(target, self._guard.judge(result))
        if self._recorder.book.is_flapping(target.name):
            result = dataclasses.replace(result, flapping=True)
        self.metrics.observe(result)
        self._recorder.add(target, result)
        return result

    def _wake_hub(self) -> None:
        if self._recorder.hub is not None:
            self._recorder.hub.notify()

    def _stats(self) -> SentinelStats:
        stats = self._dispatcher.stats
        return SentinelStats(
            spool_pending=self._recorder.writer.pending(),
            spooled_total=self._recorder.spooled,
            notifications_delivered=stats.delivered,
            notifications_failed=stats.failed,
        )
