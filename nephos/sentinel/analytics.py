"""Analytics inside the sentinel: online anomaly detection, timed forecasts and the ETL.

:class:`SentinelAnalytics` runs beside the checks. Every metric point and check latency the
hot store takes goes through a :class:`~nephos.analytics.anomaly_bank.DetectorBank`: points
come from the change feed (provider metrics, ``POST /ingest`` in any process, check results
as ``latency_ms`` series per target) and from :meth:`SentinelAnalytics.on_metrics`, which
providers call with points as they poll. A point seen twice is harmless: a detector ignores
points at or before the last one it took. Onsets and ends become alert writes
(``analytics_alerts.py``). Forecasts run every ``analytics.forecast_interval``, and the ETL
runs as a task when the config has an ``etl`` section. The pure deciding lives in
``nephos.analytics``, the loading in ``nephos.warehouse``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from nephos.analytics.anomaly import AnomalyVerdict, SeriesKey
from nephos.analytics.anomaly_bank import DetectorBank
from nephos.analytics.forecast import (
    Forecast,
    Thresholds,
    group_series,
    latency_points,
    run_forecasts,
)
from nephos.analytics.forecast_batch import STORE_READ_LIMIT, predict_batch
from nephos.clock import Clock
from nephos.config.types import Config
from nephos.errors import NephosError, StoreError, WarehouseError
from nephos.model import (
    Alert,
    CheckResult,
    Event,
    EventKind,
    MetricPoint,
    from_dict,
    parse_time,
)
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel.analytics_alerts import AnalyticsAlerts
from nephos.sentinel.analytics_metrics import AnalyticsMetrics
from nephos.sentinel.services import in_background
from nephos.store.base import HotStore
from nephos.warehouse.base import Warehouse
from nephos.warehouse.etl import Etl

__all__ = ["FORECAST_STATE_KEY", "SentinelAnalytics"]

log = logging.getLogger(__name__)

FORECAST_STATE_KEY = "analytics.forecast.last_run"
"""Hot-store state key holding when forecasts last ran, so a restart keeps the 12-hour pace."""

_FEED_PAGE = 1000
_POLL_SECONDS = 1.0  # feed reads without a wake-up: points another process committed
_MAX_VERDICTS = 10_000  # verdicts waiting for their alert write; the oldest go beyond this
_WARM_LIMIT = 500_000  # history points replayed at start, per kind
_RETRY_SECONDS = 600.0  # a forecast run that failed is tried again this much later
_ETL_STOP_SECONDS = 30.0


class SentinelAnalytics:
    """The sentinel's analytics service: detectors, forecasts and the ETL, started together.

    Args:
        config: returns the configuration in force (it changes on reload).
        store: the sentinel's open hot store.
        clock: paces the loops and stamps alerts.
        dispatcher: returns the sentinel's dispatcher in force.
        registry: the sentinel's Prometheus registry (the ETL's lag gauges go there).
        rng: draws alert ids.
        on_alert: receives every anomaly and forecast alert written (the sentinel's events).
        on_commit: called after alerts were written (the sentinel wakes its hub).
    """

    def __init__(
        self,
        config: Callable[[], Config],
        *,
        store: HotStore,
        clock: Clock,
        dispatcher: Callable[[], Dispatcher],
        registry: Any | None = None,
        rng: random.Random | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._registry = registry
        self._on_alert = on_alert
        self._on_commit = on_commit
        self.alerts = AnalyticsAlerts(
            store, dispatcher=dispatcher, config=config, clock=clock, rng=rng
        )
        """Writes the alerts (exposed for tests and tools)."""
        settings = config().analytics
        self.bank = DetectorBank(max_series=settings.max_series) if settings.anomalies else None
        """The online detectors, one per series (None with ``analytics.anomalies: false``)."""
        self._metrics = (
            AnalyticsMetrics(registry, lambda: len(self.bank) if self.bank is not None else 0)
            if registry is not None
            else None
        )
        self.etl: Etl | None = None
        """The ETL while one runs in this sentinel."""
        self._warehouse: Warehouse | None = None
        self.dropped_verdicts = 0
        """Verdicts dropped because too many waited for their alert write."""
        self._verdicts: collections.deque[tuple[SeriesKey, AnomalyVerdict]] = collections.deque()
        self.forecast_runs = 0
        """Forecast runs completed since start."""
        self._forecasted = asyncio.Event()  # replaced after each run
        self._seq = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._passed = asyncio.Event()  # replaced after each pass of the detection loop

    # ------------------------------------------------------------------ hooks

    def on_metrics(self, points: Iterable[MetricPoint]) -> None:
        """Feed metric points to the detectors now (providers call this once they are written).

        Returns at once; the alerts the points cause are written by the background task, and
        the ETL is woken to load them.
        """
        if self.etl is not None:
            self.etl.notify()
        if self.bank is None:
            return
        self._feed(points)
        self._wake.set()

    def notify(self) -> None:
        """Something was committed to the hot store: read the feed and load the ETL now."""
        self._wake.set()
        if self.etl is not None:
            self.etl.notify()

    async def settled(self) -> None:
        """Wait until the feed read so far and every queued verdict are handled (for tests).

        Only meaningful while :meth:`start`'s detection task runs.
        """
        if self.bank is None:
            return
        while self._wake.is_set() or self._verdicts or not self._idle.is_set():
            await self._passed.wait()

    async def wait_forecasts(self, runs: int) -> None:
        """Wait until ``runs`` forecast runs have completed since start (for tests)."""
        while self.forecast_runs < runs:
            await self._forecasted.wait()

    # ------------------------------------------------------------------ running

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Start the detectors, forecasts and ETL as configured; ``stack`` stops them.

        Raises:
            ConfigError: the warehouse backend named for the ETL is unknown or misconfigured.
        """
        config = self._config()
        if config.etl.enabled:
            await self._start_etl(stack, config)
        if self.bank is not None:
            try:
                self._seq = await self._store.latest_seq()
                await self._warm()
            except StoreError as exc:
                log.warning("anomaly detectors start cold (history not read): %s", exc)
            in_background(stack, self._detect())
            in_background(stack, self._silence())
        if config.analytics.forecasts:
            in_background(stack, self._forecast_loop())

    async def _start_etl(self, stack: contextlib.AsyncExitStack, config: Config) -> None:
        from nephos.warehouse import open_warehouse

        self._warehouse = warehouse = open_warehouse(config.storage.warehouse, clock=self._clock)
        self.etl = etl = Etl(
            self._store,
            warehouse,
            clock=self._clock,
            batch_size=config.etl.batch_size,
            max_batch_age=config.etl.max_batch_age.total_seconds(),
            registry=self._registry,
        )
        task = asyncio.create_task(etl.run())

        async def stop() -> None:
            etl.stop()  # loads what it holds (one attempt); the rest on the next start
            try:
                await asyncio.wait_for(task, _ETL_STOP_SECONDS)
            except TimeoutError:
                log.warning("ETL did not stop in time; the rest loads on the next start")
            finally:
                with contextlib.suppress(WarehouseError):
                    await warehouse.close()
                self.etl = self._warehouse = None

        stack.push_async_callback(stop)
        log.info(
            "ETL: loading %s into %s", config.storage.hot.path, config.storage.warehouse.backend
        )

    # ------------------------------------------------------------------ anomalies

    def _feed(self, points: Iterable[MetricPoint]) -> None:
        assert self.bank is not None
        for point in points:
            verdict = self.bank.observe(point)
            if verdict is None:
                continue
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.popleft()
                self.dropped_verdicts += 1
                if self._metrics is not None:
                    self._metrics.dropped()
            self._verdicts.append((SeriesKey.of(point), verdict))

    async def _warm(self) -> None:
        """Replay recent history so that baselines hold at once rather than after a day."""
        assert self.bank is not None
        since = self._clock.now() - self.bank.settings.baseline_window
        metrics = await self._store.metrics(since=since, limit=_WARM_LIMIT)
        results = await self._store.results(since=since, limit=_WARM_LIMIT)
        history = sorted([*metrics, *latency_points(results)], key=lambda p: p.ts)
        for start in range(0, len(history), 5000):
            self.bank.warm(history[start : start + 5000])
            await asyncio.sleep(0)  # let the checks run between chunks
        warmed = {SeriesKey.of(p) for p in history}
        bank = self.bank

        def calm(series: SeriesKey) -> bool:
            return series in warmed and not bank.detector(series).in_episode

        self._announce(await self.alerts.close_stale_anomalies(calm))
        if history:
            log.info(
                "anomaly detectors warmed on %d points, %d series", len(history), len(self.bank)
            )

    async def _detect(self) -> None:
        """Read the change feed, feed the detectors, write the alerts; until cancelled."""
        while True:
            self._idle.clear()
            self._wake.clear()
            try:
                await self._read_feed()
                await self._write_verdicts()
            except NephosError as exc:
                log.warning("anomaly alerts: %s (tried again on the next wake-up)", exc)
            finally:
                self._idle.set()
                self._passed.set()
                self._passed = asyncio.Event()
            if not self._wake.is_set():
                await self._wait(_POLL_SECONDS)

    async def _read_feed(self) -> None:
        while True:
            events = await self._store.changes(self._seq, limit=_FEED_PAGE)
            if not events:
                return
            self._seq = events[-1].seq
            self._feed(_points(events))
            if len(events) < _FEED_PAGE:
                return

    async def _write_verdicts(self) -> None:
        written: list[Alert] = []
        try:
            while self._verdicts:
                series, verdict = self._verdicts[0]
                alert = await self.alerts.anomaly(series, verdict)  # a failure keeps it queued
                self._verdicts.popleft()
                if alert is not None:
                    log.info("anomaly alert %s %s: %s", alert.id, alert.state.value, alert.title)
                    written.append(alert)
        finally:
            self._announce(written)

    def _announce(self, alerts: Sequence[Alert]) -> None:
        """Tell the sentinel about alerts just written: its observer, its hub, the ETL."""
        if not alerts:
            return
        if self._metrics is not None:
            for alert in alerts:
                self._metrics.alert(alert)
        if self._on_alert is not None:
            for alert in alerts:
                self._on_alert(alert)
        if self._on_commit is not None:
            self._on_commit()
        if self.etl is not None:
            self.etl.notify()

    async def _silence(self) -> None:
        """Look for series gone silent every ``analytics.silence_check``; until cancelled."""
        while True:
            await self._clock.sleep(self._config().analytics.silence_check.total_seconds())
            assert self.bank is not None
            for series, verdict in self.bank.check_silence(self._clock.now()):
                self._verdicts.append((series, verdict))
            if self._verdicts:
                self._wake.set()

    async def _wait(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()

    # ------------------------------------------------------------------ forecasts

    async def _forecast_loop(self) -> None:
        """Forecast every ``analytics.forecast_interval``, at once if overdue; until cancelled."""
        delay = await self._first_forecast_delay()
        while True:
            await self._clock.sleep(delay)
            try:
                await self.forecast_once()
            except NephosError as exc:
                log.warning("forecasts failed, next try in %.0fs: %s", _RETRY_SECONDS, exc)
                delay = _RETRY_SECONDS
            else:
                delay = self._config().analytics.forecast_interval.total_seconds()

    async def _first_forecast_delay(self) -> float:
        try:
            value = await self._store.get_state(FORECAST_STATE_KEY)
            last = parse_time(str(value["at"])) if isinstance(value, dict) else None
        except (StoreError, KeyError, ValueError):
            last = None
        if last is None:
            return 0.0
        interval = self._config().analytics.forecast_interval
        return max(0.0, (last + interval - self._clock.now()).total_seconds())

    async def forecast_once(self) -> list[Alert]:
        """Forecast every capacity series and bring the forecast alerts in line; the writes.

        Raises:
            StoreError: the hot store could not be read or written.
        """
        config = self._config()
        now = self._clock.now()
        forecasts = await self._forecasts(config, now)
        written = await self.alerts.forecasts(forecasts)
        self._announce(written)
        at = now.isoformat().replace("+00:00", "Z")
        await self._store.set_state(FORECAST_STATE_KEY, {"at": at, "forecasts": len(forecasts)})
        log.info("forecasts: %d series on course, %d alert write(s)", len(forecasts), len(written))
        self.forecast_runs += 1
        if self._metrics is not None:
            self._metrics.forecast_run(now, len(forecasts))
        self._forecasted.set()
        self._forecasted = asyncio.Event()
        return written

    async def _forecasts(self, config: Config, now: datetime) -> list[Forecast]:
        settings = config.analytics
        thresholds = Thresholds.from_config(config, by_metric=settings.thresholds)
        # The hot store holds the window unless retention is shorter; then the warehouse the
        # ETL fills here has it (a failure falls back to what the hot store still has).
        warehouse = self._warehouse
        if warehouse is not None and config.storage.hot.retention < settings.window:
            try:
                return await predict_batch(
                    warehouse,
                    horizon=settings.horizon,
                    window=settings.window,
                    now=now,
                    thresholds=thresholds,
                )
            except WarehouseError as exc:
                log.warning("forecasts: warehouse not read, using the hot store: %s", exc)
        since = now - settings.window
        points = await self._store.metrics(since=since, limit=STORE_READ_LIMIT)
        results = await self._store.results(since=since, limit=STORE_READ_LIMIT)
        series = group_series([*points, *latency_points(results)])
        # Fits over thousands of series take seconds of numpy: off the loop the checks run on.
        return await asyncio.to_thread(
            run_forecasts, series, now=now, horizon=settings.horizon, thresholds=thresholds
        )


def _points(events: Sequence[Event]) -> list[MetricPoint]:
    """The metric points and check latencies among change-feed events."""
    points: list[MetricPoint] = []
    results: list[CheckResult] = []
    for event in events:
        try:
            if event.kind is EventKind.METRIC:
                points.append(from_dict(MetricPoint, event.data))
            elif event.kind is EventKind.CHECK:
                results.append(from_dict(CheckResult, event.data))
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("event %d not read as a point: %s", event.seq, exc)
    return [*points, *latency_points(results)]
