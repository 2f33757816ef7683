"""Words and evidence for alerts: titles, messages and the ``facts`` a result leaves behind.

Kept apart from the alert book's lifecycle so that the wording can change without touching
the state machine. Text from monitored systems (errors, reasons) is carried as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nephos.model import Alert, AlertRule, CheckResult, Health, Target

__all__ = [
    "CertificateText",
    "certificate_text",
    "duration_words",
    "failed_condition",
    "failed_value",
    "firing_message",
    "firing_title",
    "iso",
    "renewed_message",
    "resolved_message",
    "resolved_title",
    "result_summary",
    "root_facts",
    "rule_facts",
]


def iso(when: datetime) -> str:
    """``when`` as RFC 3339 UTC with a ``Z``."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def duration_words(span: timedelta) -> str:
    """A span as ``2h 5m``, ``4m 30s`` or ``12s``."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0s"


def _failed(result: CheckResult) -> list[Any]:
    return [c for c in result.conditions if not c.passed]


def failed_condition(result: CheckResult) -> str | None:
    """The first failed condition's text, if any."""
    failed = _failed(result)
    return failed[0].condition if failed else None


def failed_value(result: CheckResult) -> str | None:
    """The observed value behind the first failed condition, else the error, else None."""
    failed = _failed(result)
    if failed and failed[0].actual is not None:
        return str(failed[0].actual)
    return result.error


def _details(result: CheckResult) -> str:
    parts: list[str] = []
    if result.reason:
        parts.append(result.reason)
    for cond in _failed(result):
        text = cond.description or f"{cond.condition} failed (value {cond.actual})"
        if text not in result.reason:
            parts.append(text)
    if result.error and result.error not in result.reason:
        parts.append(result.error)
    return "; ".join(parts) or f"the check was {result.health.value}"


def firing_title(target: Target, result: CheckResult) -> str:
    """E.g. ``api is down``."""
    word = "degraded" if result.health is Health.DEGRADED else "down"
    return f"{target.name} is {word}"


def firing_message(target: Target, result: CheckResult, failures: int) -> str:
    """E.g. ``api failed 3 checks in a row: [STATUS] was 503, expected == 200``."""
    checks = "check" if failures == 1 else "checks in a row"
    return f"{target.name} failed {failures} {checks}: {_details(result)}"


def resolved_title(target: Target) -> str:
    """E.g. ``api recovered``."""
    return f"{target.name} recovered"


def resolved_message(target: Target, started: datetime, now: datetime) -> str:
    """E.g. ``api passed its checks again after 12m 30s``."""
    return f"{target.name} passed its checks again after {duration_words(now - started)}"


def renewed_message(target: Target) -> str:
    """The message of a certificate alert closed because a new certificate is served."""
    return f"{target.name} now serves a different certificate"


def result_summary(result: CheckResult) -> dict[str, Any]:
    """The evidence of one result, JSON-able."""
    return {
        "ts": iso(result.ts),
        "health": result.health.value,
        "latency_ms": round(result.latency_ms, 1),
        "status": result.status_code,
        "error": result.error,
        "reason": result.reason,
        "failed_conditions": [
            {"condition": c.condition, "value": c.actual, "description": c.description}
            for c in _failed(result)
        ],
    }


def rule_facts(rule: AlertRule, index: int, result: CheckResult, failures: int) -> dict[str, Any]:
    """What an alert records about the rule that raised it and the latest result."""
    reminder = rule.reminder_interval
    return {
        "rule_index": index,
        "notify": list(rule.notify),
        "send_on_resolved": rule.send_on_resolved,
        "thresholds": {
            "failure_threshold": rule.failure_threshold,
            "success_threshold": rule.success_threshold,
            "reminder_interval_s": reminder.total_seconds() if reminder else None,
            "on_degraded": rule.on_degraded,
        },
        "consecutive_failures": failures,
        "last_result": result_summary(result),
    }


def root_facts(root: Alert | None) -> dict[str, Any]:
    """What an alert records about the root alert that explains it: ``caused_by`` with the
    root's id and its cause in words (``instance web-1 (aws, us-east-1) being stopped``)."""
    if root is None:
        return {}
    return {"caused_by": {"alert": root.id, "cause": str(root.facts.get("cause", root.title))}}


@dataclass(frozen=True, slots=True)
class CertificateText:
    """Title, message and facts of a certificate reminder."""

    title: str
    message: str
    facts: dict[str, Any]


def certificate_text(
    target: Target, result: CheckResult, days_left: float, threshold: int
) -> CertificateText:
    """The words of a certificate reminder at ``threshold`` days."""
    tls = result.tls
    assert tls is not None and tls.leaf_not_after is not None
    whole = int(days_left)
    if days_left < 0:
        title = f"{target.name}: certificate expired {-whole} days ago"
    else:
        title = f"{target.name}: certificate expires in {whole} day{'s' if whole != 1 else ''}"
    who = f" ({tls.subject})" if tls.subject else ""
    issuer = f", issued by {tls.issuer}" if tls.issuer else ""
    message = (
        f"The certificate of {target.name}{who}{issuer} expires on "
        f"{tls.leaf_not_after.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{days_left:.1f} days from now (reminder at {threshold} days)."
    )
    facts = {
        "not_after": iso(tls.leaf_not_after),
        "days_left": round(days_left, 1),
        "threshold_days": threshold,
        "subject": tls.subject,
        "issuer": tls.issuer,
        "last_result": result_summary(result),
    }
    return CertificateText(title, message, facts)
