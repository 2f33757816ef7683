"""Certificate reminders: one message per threshold (21, 14, 7 days) per certificate.

A certificate is known by its target and ``not_after``. Thresholds already sent are kept in
the store's state, so a restart never repeats one; a threshold that fell in a maintenance
window is sent when the window ends. Each certificate gets one CERTIFICATE alert, a warning
that turns critical at the last threshold, resolved once the target serves a new certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from nephos.model import Alert, AlertSource, AlertState, CheckResult, Severity, Target
from nephos.sentinel import alert_text
from nephos.sentinel.alert_ledger import AlertLedger, Step, close, emit
from nephos.store.base import HotStore

__all__ = ["CertificateReminders", "certificate_dedup_key"]

_STATE_PREFIX = "alertbook:cert:"


def certificate_dedup_key(target: str, not_after: datetime) -> str:
    """The dedup key of the reminder alert for one certificate of ``target``."""
    return f"{target}|cert|{alert_text.iso(not_after)}"


class CertificateReminders:
    """Watches the leaf certificate of each TLS-carrying result."""

    def __init__(self, ledger: AlertLedger, store: HotStore, thresholds: Sequence[int]) -> None:
        """Create the reminder book.

        Args:
            ledger: the open alerts and their writes.
            store: where sent thresholds persist.
            thresholds: days before expiry, e.g. (21, 14, 7).
        """
        self._ledger = ledger
        self._store = store
        self._thresholds = sorted({int(t) for t in thresholds})
        self._sent: dict[str, set[int]] = {}

    async def observe(
        self,
        target: Target,
        result: CheckResult,
        now: datetime,
        *,
        muted: bool,
        notify: Sequence[str],
    ) -> list[Alert]:
        """Send the reminder ``result`` calls for, if any; return the alerts changed.

        Raises:
            StoreError: the store could not be read or written.
        """
        not_after = result.tls.leaf_not_after if result.tls is not None else None
        if not_after is None:
            return []
        key = certificate_dedup_key(target.name, not_after)
        changed: list[Alert] = []
        renewed = alert_text.renewed_message(target)
        for old in self._ledger.with_prefix(f"{target.name}|cert|"):
            if old.dedup_key != key:
                done = await self._ledger.update(old, lambda cur: close(cur, now, renewed, muted))
                changed.extend([done] if done is not None else [])
        days_left = (not_after - now) / timedelta(days=1)
        due = [t for t in self._thresholds if days_left <= t]
        if not due:
            return changed
        sent = await self._sent_for(key)
        tightest = min(due)
        alert = self._ledger.get(key)
        if tightest in sent or (muted and alert is not None):
            return changed
        text = alert_text.certificate_text(target, result, days_left, tightest)
        severity = Severity.CRITICAL if tightest == self._thresholds[0] else Severity.WARNING
        value = f"{days_left:.1f}d"
        if alert is None:
            fresh = Alert(
                id=await self._ledger.new_id(),
                dedup_key=key,
                target=target.name,
                source=AlertSource.CERTIFICATE,
                state=AlertState.FIRING,
                started_at=now,
                condition="[CERTIFICATE_EXPIRATION]",
                provider=target.provider,
                facts=text.facts,
                severity=severity,
                title=text.title,
                message=text.message,
                value=value,
                updated_at=now,
            )
            fresh, events = emit(fresh, "certificate", muted, now)
            changed.append(await self._ledger.insert(fresh, notify, events))
        else:

            def escalate(cur: Alert) -> Step:
                nxt = replace(
                    cur,
                    severity=severity,
                    title=text.title,
                    message=text.message,
                    value=value,
                    updated_at=now,
                    facts={**cur.facts, **text.facts},
                )
                return emit(nxt, "certificate", muted, now)

            updated = await self._ledger.update(alert, escalate)
            changed.extend([updated] if updated is not None else [])
        if not muted:  # a muted reminder goes out once the window is over
            sent.update(due)
            await self._store.set_state(_STATE_PREFIX + key, sorted(sent))
        return changed

    async def _sent_for(self, key: str) -> set[int]:
        sent = self._sent.get(key)
        if sent is None:
            saved = await self._store.get_state(_STATE_PREFIX + key)
            sent = {int(t) for t in saved} if isinstance(saved, list) else set()
            self._sent[key] = sent
        return sent
