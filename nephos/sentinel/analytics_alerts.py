"""Anomaly verdicts and forecast runs as stored, notified alerts (sources anomaly and forecast).

:class:`AnalyticsAlerts` turns what ``nephos.analytics`` decides into alert writes through the
same :class:`~nephos.sentinel.alert_ledger.AlertLedger` the alert book uses: conditional
writes, fresh ids checked against the store, the notify list kept in the alert's facts, and
the maintenance windows muting the notifications. Deciding lives in ``nephos.analytics``; when
it runs, in ``analytics.py``.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from nephos.analytics.anomaly import AnomalyVerdict, EpisodePhase, SeriesKey
from nephos.analytics.anomaly_bank import (
    anomaly_dedup_key,
    anomaly_to_alert,
    resolve_anomaly_alert,
)
from nephos.analytics.forecast import Forecast
from nephos.analytics.forecast_alert import reconcile_forecast_alerts
from nephos.clock import Clock
from nephos.config.types import Config
from nephos.model import Alert, AlertSource, AlertState
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel.alert_ledger import AlertLedger, Step, close, emit
from nephos.sentinel.maintenance import in_maintenance
from nephos.store.base import HotStore

__all__ = ["AnalyticsAlerts", "analytics_notify"]

_OPEN = [AlertState.FIRING, AlertState.ACKNOWLEDGED]


def analytics_notify(config: Config) -> tuple[str, ...]:
    """Who hears of anomaly and forecast alerts: ``analytics.notify``, else the notifiers of
    the ``sentinel.alerts`` rules (in order, once each)."""
    if config.analytics.notify is not None:
        return config.analytics.notify
    names = (name for rule in config.sentinel.default_alerts for name in rule.notify)
    return tuple(dict.fromkeys(names))


class AnalyticsAlerts:
    """Writes anomaly and forecast alerts and sends their notifications.

    Args:
        store: the hot store alerts are written to.
        dispatcher: returns the sentinel's dispatcher in force (it changes on reload).
        config: returns the configuration in force (notify list, maintenance windows).
        clock: stamps the changes.
        rng: draws alert ids.
    """

    def __init__(
        self,
        store: HotStore,
        *,
        dispatcher: Callable[[], Dispatcher],
        config: Callable[[], Config],
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._config = config
        self._clock = clock
        self._rng = rng or random.Random()

    def _ledger(self) -> AlertLedger:
        # A ledger per use: the dispatcher is replaced on reload, and analytics alerts are few
        # enough that reading the open one by dedup key beats keeping a second cache.
        return AlertLedger(self._store, self._dispatcher(), self._rng)

    def _muted(self, target: str) -> bool:
        config, now = self._config(), self._clock.now()
        if in_maintenance(config.sentinel.maintenance, now):
            return True
        windows = next((t.maintenance for t in config.targets if t.name == target), ())
        return in_maintenance(windows, now)

    async def anomaly(self, series: SeriesKey, verdict: AnomalyVerdict) -> Alert | None:
        """Open the series' anomaly alert at an onset, resolve it at the end.

        An onset while the series already has an open anomaly alert (one opened before a
        restart, say) leaves that alert as it is; an end without one does nothing.

        Returns:
            The alert as stored, or None when nothing was written.

        Raises:
            StoreError: the store could not be read or written.
        """
        open_alert = await self._store.open_alert(anomaly_dedup_key(series))
        if verdict.phase is EpisodePhase.ONSET:
            if open_alert is not None:
                return None
            ledger = self._ledger()
            alert = anomaly_to_alert(verdict, series, clock=self._clock, rng=self._rng)
            alert = replace(alert, id=await ledger.new_id())
            alert, events = emit(alert, "firing", self._muted(series.instance), self._clock.now())
            return await ledger.insert(alert, analytics_notify(self._config()), events)
        if open_alert is None:
            return None

        def resolve(current: Alert) -> Step | None:
            if current.state is AlertState.RESOLVED:
                return None
            done = resolve_anomaly_alert(current, verdict, clock=self._clock)
            return self._resolved(current, done)

        return await self._ledger().update(open_alert, resolve)

    async def close_stale_anomalies(self, calm: Callable[[SeriesKey], bool]) -> list[Alert]:
        """Resolve open anomaly alerts whose series is back to normal (after a restart).

        A detector rebuilt from history sees an episode end without a verdict, so an alert
        opened before a restart would otherwise stay open for good.

        Args:
            calm: whether a series has history and no open episode in its rebuilt detector.

        Returns:
            The alerts resolved.

        Raises:
            StoreError: the store could not be read or written.
        """
        ledger = self._ledger()
        done: list[Alert] = []
        for alert in await self._store.alerts(states=_OPEN, limit=100_000):
            if alert.source is not AlertSource.ANOMALY:
                continue
            facts = alert.facts
            series = SeriesKey(
                alert.target, str(facts.get("metric", "")), str(facts.get("unit", "")),
                alert.provider,
            )  # fmt: skip
            if not calm(series):
                continue
            message = f"{series.label} is back to normal (seen when the sentinel restarted)"
            now, muted = self._clock.now(), self._muted(alert.target)
            change = functools.partial(close, now=now, message=message, muted=muted)
            resolved = await ledger.update(alert, change)
            if resolved is not None:
                done.append(resolved)
        return done

    async def forecasts(self, forecasts: Sequence[Forecast]) -> list[Alert]:
        """Bring the open forecast alerts in line with one forecast run.

        New series on course get a firing alert (notified), series still on course get theirs
        refreshed (same id, new numbers; not notified again), series no longer on course get
        theirs resolved (notified when the firing was).

        Returns:
            The alerts as stored.

        Raises:
            StoreError: the store could not be read or written.
        """
        open_alerts = [
            a
            for a in await self._store.alerts(states=_OPEN, limit=100_000)
            if a.source is AlertSource.FORECAST
        ]
        by_id = {a.id: a for a in open_alerts}
        writes = reconcile_forecast_alerts(forecasts, open_alerts, clock=self._clock, rng=self._rng)
        ledger = self._ledger()
        stored: list[Alert] = []
        for write in writes:
            current = by_id.get(write.id)
            if current is None:
                alert = replace(write, id=await ledger.new_id())
                muted = self._muted(alert.target)
                alert, events = emit(alert, "firing", muted, self._clock.now())
                stored.append(await ledger.insert(alert, analytics_notify(self._config()), events))
                continue
            done = await ledger.update(current, functools.partial(self._refreshed, write=write))
            if done is not None:
                stored.append(done)
        return stored

    def _refreshed(self, current: Alert, *, write: Alert) -> Step | None:
        """``current`` changed as ``write`` says, keeping who is notified and what was muted."""
        if current.state is AlertState.RESOLVED:
            return None
        kept = {k: current.facts[k] for k in ("notify", "muted") if k in current.facts}
        new = replace(
            current,
            state=write.state,
            severity=write.severity,
            title=write.title,
            message=write.message,
            value=write.value,
            resolved_at=write.resolved_at,
            updated_at=write.updated_at,
            facts={**write.facts, **kept},
        )
        if new.state is AlertState.RESOLVED:
            return self._resolved(current, new)
        return new, []

    def _resolved(self, before: Alert, after: Alert) -> Step:
        # Nobody hears of a recovery from an alert they were never told about.
        if before.notify_count == 0:
            return after, []
        return emit(after, "resolved", self._muted(after.target), self._clock.now())
