"""Instance alerts: a machine that stops or fails opens one, running again resolves it.

The alert book (``alerts``) owns the ledger and hands each polled instance here. One alert per
instance (its dedup key names provider and id); a terminated or vanished instance closes its
alert quietly, since nobody needs paging about a machine that was deliberately removed. The
words (``web-1 (aws, us-east-1) being stopped``) are shared with the root-cause explanation
of targets that run on the instance.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from nephos.config.types import SentinelConfig
from nephos.model import (
    Alert,
    AlertRule,
    AlertSource,
    AlertState,
    Health,
    Instance,
    InstanceState,
    Severity,
)
from nephos.providers.inventory import instance_health
from nephos.sentinel.alert_ledger import AlertLedger, Step, close, emit
from nephos.sentinel.alert_text import iso
from nephos.sentinel.maintenance import in_maintenance

__all__ = [
    "InstanceAlerts",
    "cause_text",
    "describe_instance",
    "instance_dedup_key",
    "is_down",
]

_OPEN = (AlertState.FIRING, AlertState.ACKNOWLEDGED)


def instance_dedup_key(instance: Instance) -> str:
    """The dedup key of ``instance``'s alert: one per provider and instance id."""
    return f"instance|{instance.provider}|{instance.id}"


def describe_instance(instance: Instance) -> str:
    """E.g. ``web-1 (aws, us-east-1)``."""
    where = instance.region or instance.zone
    if where:
        return f"{instance.name} ({instance.provider}, {where})"
    return f"{instance.name} ({instance.provider})"


def is_down(instance: Instance) -> bool:
    """Whether ``instance`` is stopped, failed or impaired (it counts as unhealthy)."""
    return instance_health(instance) is Health.UNHEALTHY


def _condition(instance: Instance) -> str:
    """What is wrong, as a participle: ``stopped``, ``in error``, ``impaired``."""
    if instance.state is InstanceState.RUNNING:
        signal = instance.health_signal or "failing"
        return f"impaired (health signal {signal})"
    if instance.state is InstanceState.ERROR:
        return "in error"
    return instance.state.value


def cause_text(instance: Instance) -> str:
    """E.g. ``instance web-1 (aws, us-east-1) being stopped``."""
    return f"instance {describe_instance(instance)} being {_condition(instance)}"


def _facts(instance: Instance, previous: Instance | None) -> dict[str, Any]:
    return {
        "instance_id": instance.id,
        "instance": instance.name,
        "region": instance.region or instance.zone,
        "state": instance.state.value,
        "raw_state": instance.raw_state,
        "health_signal": instance.health_signal,
        "previous_state": previous.state.value if previous is not None else None,
        "cause": cause_text(instance),
    }


class InstanceAlerts:
    """Opens, updates and closes the alerts of polled instances, through the ledger.

    Args:
        ledger: the alert book's ledger (the cache of open alerts and their writes).
        settings: the sentinel section: who is notified (the default alert rules) and the
            global maintenance windows that mute notifications.
    """

    def __init__(self, ledger: AlertLedger, settings: SentinelConfig) -> None:
        self._ledger = ledger
        self._settings = settings

    def open_alert(self, instance: Instance) -> Alert | None:
        """The open alert of ``instance``, or None."""
        return self._ledger.get(instance_dedup_key(instance))

    def _rule(self) -> AlertRule:
        rules = self._settings.default_alerts
        return rules[0] if rules else AlertRule()

    def _notify(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for r in self._settings.default_alerts for n in r.notify))

    async def observe(
        self, instance: Instance, previous: Instance | None, now: datetime
    ) -> Alert | None:
        """Judge one polled instance; the alert it opened, changed or closed, or None.

        Down (stopped, error, impaired) after being up opens the alert; a first sighting
        opens one only for an instance in error or impaired, since a machine that was
        already stopped when watching began is not news. Running and healthy again resolves
        it; terminated closes it without a notification.

        Args:
            instance: the instance as just polled.
            previous: the same instance as last seen (None: never seen).
            now: the current time.

        Raises:
            StoreError: the store could not be written.
        """
        alert = self.open_alert(instance)
        health = instance_health(instance)
        muted = in_maintenance(self._settings.maintenance, now)
        if health is None:
            if alert is None:
                return None
            message = f"instance {describe_instance(instance)} was terminated"
            return await self._ledger.update(alert, lambda cur: _quiet_close(cur, now, message))
        if health is Health.UNHEALTHY:
            if alert is not None:
                return await self._ledger.update(
                    alert, lambda cur: _restate(cur, instance, previous, now)
                )
            if not self._newly_down(instance, previous):
                return None
            return await self._open(instance, previous, now, muted)
        if health is Health.HEALTHY and alert is not None:
            message = f"instance {describe_instance(instance)} is running again"
            return await self._ledger.update(alert, lambda cur: close(cur, now, message, muted))
        return None  # pending, maintenance, unknown: wait and see

    @staticmethod
    def _newly_down(instance: Instance, previous: Instance | None) -> bool:
        if previous is None:
            return instance.state in (InstanceState.ERROR, InstanceState.RUNNING)
        return instance_health(previous) is not Health.UNHEALTHY

    async def _open(
        self, instance: Instance, previous: Instance | None, now: datetime, muted: bool
    ) -> Alert:
        rule = self._rule()
        was = f" (was {previous.state.value})" if previous is not None else ""
        severity = Severity.CRITICAL if instance.state is InstanceState.ERROR else rule.severity
        alert = Alert(
            id=await self._ledger.new_id(),
            dedup_key=instance_dedup_key(instance),
            target=instance.name,
            source=AlertSource.INSTANCE,
            state=AlertState.FIRING,
            severity=severity,
            title=f"instance {instance.name} is {_condition(instance)}",
            message=f"instance {describe_instance(instance)} is {_condition(instance)}{was}",
            started_at=now,
            updated_at=now,
            condition="instance state",
            value=instance.raw_state or instance.state.value,
            provider=instance.provider,
            facts={**_facts(instance, previous), "send_on_resolved": rule.send_on_resolved},
        )
        alert, events = emit(alert, "firing", muted, now)
        return await self._ledger.insert(alert, self._notify(), events)


def _restate(
    alert: Alert, instance: Instance, previous: Instance | None, now: datetime
) -> Step | None:
    """Still down, maybe differently (stopped, then error): refresh the words, notify nobody."""
    if alert.state not in _OPEN or alert.facts.get("cause") == cause_text(instance):
        return None
    changed = replace(
        alert,
        title=f"instance {instance.name} is {_condition(instance)}",
        message=f"instance {describe_instance(instance)} is {_condition(instance)}",
        value=instance.raw_state or instance.state.value,
        updated_at=now,
        facts={**alert.facts, **_facts(instance, previous)},
    )
    return changed, []


def _quiet_close(alert: Alert, now: datetime, message: str) -> Step | None:
    """Resolved because the machine is gone: recorded, not announced."""
    if alert.state not in _OPEN:
        return None
    closed = replace(
        alert,
        state=AlertState.RESOLVED,
        resolved_at=now,
        updated_at=now,
        message=message,
        facts={**alert.facts, "resolved_by": "nephos", "terminated_at": iso(now)},
    )
    return closed, []
