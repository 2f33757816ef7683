"""The facts of ``nephos explain-alert``: the alert, its target's recent checks, its instance,
the alerts open beside it and its runbook, read from the hot store."""

from __future__ import annotations

import itertools
from datetime import datetime

from nephos.errors import UsageError
from nephos.insights.facts import AlertFacts, StateChange
from nephos.insights.gather import Sources, alert_fact, runbooks_of
from nephos.model import AlertState, CheckResult

__all__ = ["alert_facts"]

_OPEN = [AlertState.FIRING, AlertState.ACKNOWLEDGED]


async def alert_facts(src: Sources, alert_id: str, *, now: datetime) -> AlertFacts:
    """The facts of ``nephos explain-alert ID``.

    Raises:
        UsageError: no alert has this id (exit 3).
        StoreError: the hot store could not be read.
    """
    alert = await src.store.get_alert(alert_id) if src.store else None
    if alert is None:
        raise UsageError(f"no alert with id {alert_id!r} (`nephos alerts list` shows the ids)")
    assert src.store is not None
    runbooks = runbooks_of(src.config)
    fact = alert_fact(alert, now, runbooks)
    target = next((t for t in src.config.targets if t.name == alert.target), None)
    recent = await src.store.results(alert.target, limit=20)
    consecutive = 0
    for r in recent:
        if r.success:
            break
        consecutive += 1
    newest = recent[0] if recent else None
    latencies = sorted(r.latency_ms for r in recent)
    instances = await src.store.instances()
    names = {alert.target} | ({target.instance} if target and target.instance else set())
    instance = next((i for i in instances if i.id in names or i.name in names), None)
    others = await src.store.alerts(states=_OPEN, limit=200)
    related = [
        alert_fact(a, now, runbooks) for a in others
        if a.id != alert.id and (a.target == alert.target or a.provider == alert.provider)
    ][:5]  # fmt: skip
    changes: list[StateChange] = []
    ordered = list(reversed(recent))
    for before, after in itertools.pairwise(ordered):
        if before.health is not after.health:
            changes.append(
                StateChange(
                    after.target,
                    after.ts,
                    before.health.value,
                    after.health.value,
                    after.error or after.reason,
                )
            )
    return AlertFacts(
        as_of=now,
        alert=fact,
        target_kind=target.kind.value if target else _kind_of(newest),
        target_address=target.address if target else None,
        recent_checks=len(recent),
        recent_failures=sum(1 for r in recent if not r.success),
        consecutive_failures=consecutive,
        last_status_code=newest.status_code if newest else None,
        last_error=newest.error if newest else None,
        last_reason=(newest.reason or None) if newest else None,
        latency_p50_ms=round(latencies[len(latencies) // 2], 1) if latencies else None,
        latency_last_ms=round(newest.latency_ms, 1) if newest else None,
        instance_state=instance.state.value if instance else None,
        related=tuple(related),
        state_changes=tuple(changes[-5:]),
        missing=tuple(src.missing),
    )


def _kind_of(result: CheckResult | None) -> str | None:
    return result.kind.value if result is not None else None
