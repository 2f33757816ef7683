"""The alert book: how check results become alerts, and when people hear about them.

Per target and alert rule: consecutive failures open a FIRING alert, consecutive successes
resolve it; reminders repeat while it fires unacknowledged. Flapping targets get one
``flapping`` message instead of one per flip; maintenance windows and root-cause suppression
keep recording but mute. Certificates nearing expiry get one reminder per threshold. Counters,
flap history and sent reminders live in the store's key-value state, so a restart mid-incident
neither repeats nor forgets anything (``alert_state`` keeps them). Words for titles and messages
live in ``alert_text``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from nephos.clock import Clock
from nephos.config.types import SentinelConfig
from nephos.errors import UsageError
from nephos.model import (
    Alert,
    AlertRule,
    AlertSource,
    AlertState,
    CheckResult,
    Health,
    Instance,
    Target,
)
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel import alert_text
from nephos.sentinel.alert_certs import CertificateReminders
from nephos.sentinel.alert_instances import InstanceAlerts
from nephos.sentinel.alert_ledger import AlertLedger, Step, close, emit, mute_reason
from nephos.sentinel.alert_state import Counters, TargetStates
from nephos.sentinel.flapping import FlapVerdict
from nephos.sentinel.maintenance import in_maintenance
from nephos.store.base import HotStore

__all__ = ["AlertBook", "RootCause", "rule_dedup_key"]

RootCause = Callable[[Target], Alert | None]
"""Given a target, the open alert that explains its failure (e.g. its instance is down)."""

_REFRESH = timedelta(seconds=30)  # how stale the cache of open alerts may get


def rule_dedup_key(target: str, rule_index: int) -> str:
    """The dedup key of the alert that rule ``rule_index`` of ``target`` raises.

    Args:
        target: the target name.
        rule_index: the rule's position in the target's (or the default) alert rules.
    """
    return f"{target}|{rule_index}|down"


@dataclass(frozen=True, slots=True)
class _Observation:
    """Everything one rule needs to judge one result."""

    now: datetime
    target: Target
    result: CheckResult
    index: int
    rule: AlertRule
    counters: Counters
    verdict: FlapVerdict
    muted: bool
    root: Alert | None
    recent: tuple[str, ...]  # the target's recent healths, oldest first

    @property
    def flap_relevant(self) -> bool:
        """Whether the flapping involves a state this rule fails on (not just ok/degraded)."""
        failing = {Health.UNHEALTHY.value} | (
            {Health.DEGRADED.value} if self.rule.on_degraded else set()
        )
        return self.verdict.started and any(h in failing for h in self.recent)

    @property
    def failing(self) -> bool:
        health = self.result.health
        return health is Health.UNHEALTHY or (self.rule.on_degraded and health is Health.DEGRADED)

    @property
    def passing(self) -> bool:
        health = self.result.health
        return health is Health.HEALTHY or (not self.rule.on_degraded and health is Health.DEGRADED)


class AlertBook:
    """Opens, updates and resolves alerts from check results; sends their notifications."""

    def __init__(
        self,
        store: HotStore,
        dispatcher: Dispatcher,
        *,
        clock: Clock,
        settings: SentinelConfig,
        rng: random.Random | None = None,
        root_cause: RootCause | None = None,
        batch_state: bool = False,
    ) -> None:
        """Create an empty book; call :meth:`load` (or just :meth:`observe`) to restore state.

        Args:
            store: where alerts and counters persist.
            dispatcher: delivers notifications in the background.
            clock: the source of time for thresholds, reminders and windows.
            settings: the sentinel section of the config.
            rng: randomness for alert ids.
            root_cause: finds the alert that explains a target's failure; alerts it explains
                are marked ``suppressed_by`` and not notified.
            batch_state: keep changed per-target state in memory until :meth:`flush_state`
                (the sentinel flushes once per batch of results) instead of writing it on
                every result.
        """
        self._store = store
        self._clock = clock
        self._settings = settings
        self._root_cause = root_cause
        self._ledger = AlertLedger(store, dispatcher, rng or random.Random())
        self._certificates = CertificateReminders(
            self._ledger, store, settings.certificate_reminders
        )
        self._instances = InstanceAlerts(self._ledger, settings)
        self._states = TargetStates(store, settings, deferred=batch_state)
        self._loaded_at: datetime | None = None

    # ------------------------------------------------------------------ state

    async def load(self) -> None:
        """Restore open alerts from the store; counters load lazily per target.

        Calling it again refreshes the cache, picking up acks and resolutions made by another
        process (``nephos alerts ack``).

        Raises:
            StoreError: the store could not be read.
        """
        for gone in await self._ledger.load():
            self._reset_counters(gone)
        self._loaded_at = self._clock.now()

    def _reset_counters(self, alert: Alert) -> None:
        # Resolved elsewhere while still failing: count again from zero rather than reopen at
        # the very next failure.
        index = alert.facts.get("rule_index")
        state = self._states.cached(alert.target)
        if state is not None and isinstance(index, int) and index in state.counters:
            state.counters[index].failures = 0

    async def prefetch(self, targets: Iterable[str]) -> None:
        """Read the stored state of every target in ``targets`` not seen yet, in one go.

        Raises:
            StoreError: the store could not be read.
        """
        await self._states.prefetch(targets)

    @property
    def pending_state(self) -> int:
        """Targets whose changed state waits for :meth:`flush_state` (with ``batch_state``)."""
        return self._states.pending

    async def flush_state(self) -> None:
        """Write the per-target state that changed since the last flush, in one transaction.

        Only needed with ``batch_state``; failed writes stay queued for the next flush.

        Raises:
            StoreError: the store could not be written (StoreUnavailable: try again later).
        """
        await self._states.flush()

    def is_flapping(self, target_name: str) -> bool:
        """Whether ``target_name`` is currently flapping.

        Args:
            target_name: the target's name.
        """
        state = self._states.cached(target_name)
        return state is not None and state.flap.flapping

    def open_alerts(self) -> list[Alert]:
        """The firing and acknowledged alerts, as last seen."""
        return self._ledger.values()

    def _rules(self, target: Target) -> tuple[AlertRule, ...]:
        return target.alerts or self._settings.default_alerts or (AlertRule(),)

    # ------------------------------------------------------------------ observe

    async def observe(
        self, target: Target, result: CheckResult, *, root_cause: RootCause | None = None
    ) -> list[Alert]:
        """Feed one check result; return the alerts it opened, changed or resolved.

        Results taken while the sentinel itself was offline are ignored entirely.

        Args:
            target: the target that was checked.
            result: its classified result.
            root_cause: overrides the book's root-cause finder for this call.

        Raises:
            StoreError: the store could not be read or written (StoreUnavailable: spool).
        """
        now = self._clock.now()
        if self._loaded_at is None or now - self._loaded_at >= _REFRESH:
            await self.load()
        if result.sentinel_offline:
            return []
        state = await self._states.get(target.name)
        verdict = state.flap.record(result.health)
        muted = in_maintenance(self._settings.maintenance, now) or in_maintenance(
            target.maintenance, now
        )
        finder = root_cause or self._root_cause
        root = finder(target) if finder is not None else None
        recent = tuple(state.flap.history)
        changed: list[Alert] = []
        for index, rule in enumerate(self._rules(target)):
            counters = state.counters.setdefault(index, Counters())
            step = _Observation(
                now, target, result, index, rule, counters, verdict, muted, root, recent
            )
            if step.failing:
                counters.failures, counters.successes = counters.failures + 1, 0
            elif step.passing:
                # Capped: counting past the threshold changes nothing, and a steady state
                # then leaves nothing new to write.
                successes = min(counters.successes + 1, rule.success_threshold)
                counters.failures, counters.successes = 0, successes
            alert = await self._observe_rule(step)
            if alert is not None:
                changed.append(alert)
        notify = tuple(dict.fromkeys(n for r in self._rules(target) for n in r.notify))
        changed.extend(
            await self._certificates.observe(target, result, now, muted=muted, notify=notify)
        )
        await self._states.save(target.name, state)
        return changed

    async def _observe_rule(self, step: _Observation) -> Alert | None:
        key = rule_dedup_key(step.target.name, step.index)
        alert = self._ledger.get(key)
        if alert is None:
            if step.flap_relevant or (
                step.failing and step.counters.failures >= step.rule.failure_threshold
            ):
                return await self._open_rule_alert(key, step)
            return None
        return await self._ledger.update(alert, lambda current: self._advance(current, step))

    async def _open_rule_alert(self, key: str, step: _Observation) -> Alert:
        now, result = step.now, step.result
        alert = Alert(
            id=await self._ledger.new_id(),
            dedup_key=key,
            target=step.target.name,
            source=AlertSource.SENTINEL,
            state=AlertState.FIRING,
            severity=step.rule.severity,
            title=alert_text.firing_title(step.target, result),
            message=alert_text.firing_message(step.target, result, step.counters.failures),
            started_at=now,
            updated_at=now,
            condition=alert_text.failed_condition(result),
            value=alert_text.failed_value(result),
            provider=step.target.provider,
            flapping=step.verdict.flapping,
            suppressed_by=self._suppressor(step.root, None),
            facts={
                **alert_text.rule_facts(step.rule, step.index, result, step.counters.failures),
                **alert_text.root_facts(step.root),
            },
        )
        event = "flapping" if step.flap_relevant else "firing"
        alert, events = emit(alert, event, step.muted, now)
        return await self._ledger.insert(alert, step.rule.notify, events)

    @staticmethod
    def _suppressor(root: Alert | None, own_id: str | None) -> str | None:
        return root.id if root is not None and root.id != own_id else None

    def _advance(self, alert: Alert, step: _Observation) -> Step | None:
        """The next version of an open rule alert after ``step``, and what to notify."""
        if alert.state is AlertState.RESOLVED:
            return None
        now, rule = step.now, step.rule
        new = replace(
            alert,
            flapping=step.verdict.flapping,
            suppressed_by=self._suppressor(step.root, alert.id),
        )
        events: list[str] = []
        if step.flap_relevant:
            new, events = emit(new, "flapping", step.muted, now)
        if step.passing and step.counters.successes >= rule.success_threshold and not new.flapping:
            new = replace(
                new,
                state=AlertState.RESOLVED,
                resolved_at=now,
                title=alert_text.resolved_title(step.target),
                message=alert_text.resolved_message(step.target, alert.started_at, now),
            )
            # Nobody hears of a recovery from an alert they were never told about.
            if rule.send_on_resolved and alert.notify_count > 0:
                new, events = emit(new, "resolved", step.muted, now, events)
        elif step.failing and new.state is AlertState.FIRING and not step.flap_relevant:
            if new.notify_count == 0 and mute_reason(new, "firing", step.muted) is None:
                # Announced late: it was muted (maintenance, root cause, flapping) until now.
                new, events = emit(new, "firing", step.muted, now, events)
            elif new.notify_count > 0 and self._reminder_due(new, rule, now, step.muted):
                new, events = emit(new, "reminder", step.muted, now, events)
        if new == alert:
            return None
        facts = dict(new.facts)
        facts.pop("caused_by", None)
        facts.update(
            alert_text.rule_facts(rule, step.index, step.result, step.counters.failures),
            muted=new.facts.get("muted", []),
        )
        if new.state is not AlertState.RESOLVED:
            facts.update(alert_text.root_facts(step.root))
        return replace(new, updated_at=now, facts=facts), events

    def _reminder_due(self, alert: Alert, rule: AlertRule, now: datetime, muted: bool) -> bool:
        if rule.reminder_interval is None or rule.reminder_interval <= timedelta(0):
            return False
        if mute_reason(alert, "reminder", muted) is not None:
            return False  # muted reminders are skipped, not recorded, to avoid a write per check
        last = alert.last_notified_at or alert.started_at
        return now - last >= rule.reminder_interval

    # ------------------------------------------------------------------ instances

    async def observe_instance(self, instance: Instance, previous: Instance | None) -> Alert | None:
        """Feed one polled instance; the instance alert it opened, changed or closed, or None.

        Running to stopped (or error, or an impaired health signal) opens an ``instance``
        alert; running again resolves it; terminated closes it without a notification.

        Args:
            instance: the instance as just polled.
            previous: the same instance as last seen, or None when never seen.

        Raises:
            StoreError: the store could not be read or written.
        """
        now = self._clock.now()
        if self._loaded_at is None or now - self._loaded_at >= _REFRESH:
            await self.load()
        return await self._instances.observe(instance, previous, now)

    def instance_alert(self, instance: Instance) -> Alert | None:
        """The open alert of ``instance`` (a root cause for targets running on it), or None."""
        return self._instances.open_alert(instance)

    # ------------------------------------------------------------------ manual

    async def ack(self, alert_id: str) -> Alert:
        """Acknowledge an alert: reminders stop; it still resolves on its own.

        Args:
            alert_id: e.g. ``al-7f3k2q``.

        Raises:
            UsageError: no alert has this id, or it is already resolved.
            StoreError: the store could not be read or written.
        """
        alert = await self._get(alert_id)
        if alert.state is AlertState.RESOLVED:
            raise UsageError(f"alert {alert_id} is already resolved")

        def change(cur: Alert) -> Step | None:
            if cur.state is not AlertState.FIRING:
                return None
            now = self._clock.now()
            return replace(
                cur, state=AlertState.ACKNOWLEDGED, acknowledged_at=now, updated_at=now
            ), ["acknowledged"]

        return await self._ledger.update(alert, change) or await self._get(alert_id)

    async def resolve(self, alert_id: str) -> Alert:
        """Resolve an alert by hand.

        A target that is still failing opens a new alert after ``failure_threshold`` more
        failures.

        Args:
            alert_id: e.g. ``al-7f3k2q``.

        Raises:
            UsageError: no alert has this id.
            StoreError: the store could not be read or written.
        """
        alert = await self._get(alert_id)
        now = self._clock.now()
        updated = await self._ledger.update(
            alert, lambda cur: close(cur, now, None, False, manual=True)
        )
        if updated is not None:
            self._reset_counters(updated)
        return updated or await self._get(alert_id)

    async def _get(self, alert_id: str) -> Alert:
        alert = await self._store.get_alert(alert_id)
        if alert is None:
            raise UsageError(f"no alert with id {alert_id}")
        return alert
