"""The alert ledger: the cache of open alerts, their conditional writes and their messages.

Shared by the rule lifecycle (``alerts``) and the certificate reminders (``alert_certs``).
Every change is a function from the current alert to its next version plus the events to
notify; a conflicting writer (``nephos alerts ack`` in another shell) makes the ledger re-read
the alert and apply the change again, so a decision is never taken on a stale copy. The
muting rules (maintenance, root cause, flapping) live here too, in :func:`emit`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from nephos.errors import StoreError, StoreUnavailable
from nephos.model import Alert, AlertState
from nephos.notify.dispatch import Dispatcher
from nephos.sentinel.alert_text import iso
from nephos.sentinel.ids import allocate_alert_id
from nephos.store.base import HotStore

__all__ = ["AlertLedger", "Change", "Step", "close", "emit", "mute_reason"]

Step = tuple[Alert, list[str]]
"""The next version of an alert and the events to notify once it is stored."""
Change = Callable[[Alert], Step | None]
"""From the current stored alert to the next step, or None when there is nothing to do."""

_OPEN = (AlertState.FIRING, AlertState.ACKNOWLEDGED)
_MAX_MUTED_RECORDS = 20
_CONFLICT_RETRIES = 3


def mute_reason(alert: Alert, event: str, muted: bool) -> str | None:
    """Why ``event`` on ``alert`` must not be sent now, or None.

    Args:
        alert: the alert as it will be stored.
        event: the event to send.
        muted: a maintenance window covers now.
    """
    if muted:
        return "maintenance"
    if alert.suppressed_by is not None:
        return f"suppressed by {alert.suppressed_by}"
    if alert.flapping and event in ("firing", "resolved"):
        return "flapping"
    return None


def emit(alert: Alert, event: str, muted: bool, now: datetime, events: Sequence[str] = ()) -> Step:
    """Mark ``event`` as sent on ``alert``, or record in its facts why it was muted.

    Args:
        alert: the next version of the alert.
        event: the event to send.
        muted: a maintenance window covers now.
        now: the current time.
        events: events already decided for this step.
    """
    reason = mute_reason(alert, event, muted)
    if reason is not None:
        records = list(alert.facts.get("muted", []))
        records.append({"event": event, "at": iso(now), "reason": reason})
        facts = {**alert.facts, "muted": records[-_MAX_MUTED_RECORDS:]}
        return replace(alert, facts=facts), list(events)
    sent = replace(alert, last_notified_at=now, notify_count=alert.notify_count + 1)
    return sent, [*events, event]


def close(
    alert: Alert, now: datetime, message: str | None, muted: bool, *, manual: bool = False
) -> Step | None:
    """Resolve ``alert`` (by hand or because its cause went away); None if already resolved.

    Args:
        alert: the current alert.
        now: the current time.
        message: a new message, or None to keep the old one.
        muted: a maintenance window covers now.
        manual: a person resolved it.
    """
    if alert.state is AlertState.RESOLVED:
        return None
    closed = replace(
        alert,
        state=AlertState.RESOLVED,
        resolved_at=now,
        updated_at=now,
        message=message or alert.message,
        facts={**alert.facts, "resolved_by": "manual" if manual else "nephos"},
    )
    # Nobody hears of a recovery from an alert they were never told about.
    wanted = bool(alert.facts.get("send_on_resolved", True)) and alert.notify_count > 0
    return emit(closed, "resolved", muted, now) if wanted else (closed, [])


class AlertLedger:
    """Open alerts by dedup key, kept in step with the store."""

    def __init__(self, store: HotStore, dispatcher: Dispatcher, rng: random.Random) -> None:
        """Create an empty ledger.

        Args:
            store: where alerts persist.
            dispatcher: sends the events of stored changes.
            rng: randomness for new ids.
        """
        self._store = store
        self._dispatcher = dispatcher
        self._rng = rng
        self._open: dict[str, Alert] = {}

    async def load(self) -> list[Alert]:
        """Re-read the open alerts; return those that were open here but closed elsewhere.

        Raises:
            StoreError: the store could not be read.
        """
        alerts = await self._store.alerts(states=list(_OPEN), limit=100_000)
        fresh: dict[str, Alert] = {}
        for alert in alerts:  # newest first: keep the newest per key
            fresh.setdefault(alert.dedup_key, alert)
        gone = [a for key, a in self._open.items() if key not in fresh]
        self._open = fresh
        return gone

    def get(self, dedup_key: str) -> Alert | None:
        """The open alert with ``dedup_key``, or None."""
        return self._open.get(dedup_key)

    def with_prefix(self, prefix: str) -> list[Alert]:
        """Open alerts whose dedup key starts with ``prefix``."""
        return [a for key, a in self._open.items() if key.startswith(prefix)]

    def values(self) -> list[Alert]:
        """Every open alert."""
        return list(self._open.values())

    async def new_id(self) -> str:
        """A fresh alert id.

        Raises:
            StoreError: the store could not be read.
        """
        return await allocate_alert_id(self._store, self._rng)

    async def insert(self, alert: Alert, notify: Sequence[str], events: Sequence[str]) -> Alert:
        """Store a new alert, then send ``events`` to ``notify``.

        Raises:
            StoreError: the store could not be written.
        """
        alert = replace(alert, facts={**alert.facts, "notify": list(notify)})
        stored = await self._store.put_alert(alert)
        self._open[stored.dedup_key] = stored
        for event in events:
            self._dispatcher.submit(notify, stored, event)
        return stored

    async def update(self, alert: Alert, change: Change) -> Alert | None:
        """Apply ``change`` with a conditional write; on a conflict, re-read and re-apply.

        Returns:
            The stored alert, or None when there was nothing to do (or it was resolved
            elsewhere meanwhile).

        Raises:
            StoreUnavailable: the store cannot be written now.
            StoreError: the alert kept changing under us, or the store failed.
        """
        current = alert
        for _ in range(_CONFLICT_RETRIES):
            step = change(current)
            if step is None:
                return None
            new, events = step
            try:
                stored = await self._store.put_alert(new, expected_version=current.version)
            except StoreUnavailable:
                raise
            except StoreError:
                fresh = await self._store.get_alert(current.id)
                if fresh is None or fresh.state is AlertState.RESOLVED:
                    self.forget(current)
                    return None
                # Cache what the other writer did (an ack through the hub, say), so that the
                # next result is judged on it rather than on a stale copy.
                self._open[fresh.dedup_key] = fresh
                current = fresh
                continue
            if stored.state is AlertState.RESOLVED:
                self.forget(stored)
            else:
                self._open[stored.dedup_key] = stored
            notify = [str(n) for n in stored.facts.get("notify", [])]
            for event in events:
                self._dispatcher.submit(notify, stored, event)
            return stored
        raise StoreError(f"alert {alert.id} kept changing during the update; try again")

    def forget(self, alert: Alert) -> None:
        """Drop ``alert`` from the open set (it was resolved)."""
        cached = self._open.get(alert.dedup_key)
        if cached is not None and cached.id == alert.id:
            del self._open[alert.dedup_key]
