"""The template narrator's explanation of one alert: what it means, what was observed, the
likely causes ranked (hedged, and kept apart from the observations), what to do, and how urgent.

Sentinel, instance and certificate alerts are read from the recent checks; anomaly and
forecast alerts from the evidence their detectors recorded. Deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nephos.insights.documents import ExplanationDoc
from nephos.insights.facts import AlertFacts
from nephos.insights.words import (
    cap,
    clip,
    format_level,
    metric_label,
    metric_start,
    names,
    number,
    percent,
    sentence,
    span_hours,
    span_minutes,
    utc_time,
)

__all__ = ["explanation"]

_DOWN_STATES = {"stopped", "stopping", "suspended", "error", "terminated", "terminating"}

_ANOMALY_CAUSES = {
    "spike": [
        "A burst of load: a batch job, a cron task, a traffic peak or a retry storm.",
        "A noisy neighbour or a throttled resource on the host.",
    ],
    "sustained_rise": [
        "A leak: a process that allocates and never frees.",
        "A cache, queue or log that grows without a bound.",
    ],
    "level_shift": [
        "A change moved the level: a deploy, a configuration change or a new workload.",
        "A change in traffic that is becoming the new normal.",
    ],
    "latency_degradation": [
        "A slow dependency: a database, an upstream API or DNS.",
        "More load than the service handles at its usual speed.",
    ],
    "flatline": [
        "The agent or exporter stopped updating the value.",
        "A stuck process that no longer does work.",
    ],
    "missing_data": [
        "The agent, exporter or network path stopped reporting.",
        "The instance itself is down.",
    ],
}
_FORECAST_CAUSES = {
    "disk_percent": [
        "Logs or data that grow without rotation or retention.",
        "Backups, dumps or temporary files left behind.",
    ],
    "mem_percent": [
        "A memory leak in a long-running process.",
        "A cache sized larger than the machine.",
    ],
    "cpu_percent": ["Load that grows with traffic.", "A job that takes longer every run."],
    "latency_ms": ["Load that grows faster than capacity.", "A dependency that keeps slowing."],
}
_FORECAST_ACTIONS = {
    "disk_percent": "Free space now: rotate or ship logs, prune old data, or grow the volume.",
    "mem_percent": "Find the process whose memory grows; restart it as a stopgap and fix the leak.",
    "cpu_percent": "Add capacity or spread the load before it saturates.",
    "latency_ms": "Profile the slowest requests and add capacity before the latency tier trips.",
}


def _minutes(f: AlertFacts) -> str:
    return span_minutes(f.alert.minutes_open)


def _ev_number(ev: Mapping[str, Any], key: str) -> float | None:
    value = ev.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def explanation(f: AlertFacts) -> ExplanationDoc:
    """The template's explanation of the alert in ``f``; deterministic.

    Args:
        f: the alert and the facts gathered around it.
    """
    source = f.alert.source
    if source == "anomaly":
        parts = _anomaly(f)
    elif source == "forecast":
        parts = _forecast(f)
    else:
        parts = _check(f)
    what, observed, causes, actions = parts
    if f.alert.runbook:
        actions.insert(0, f"Follow the runbook: {clip(f.alert.runbook, 300)}")
    if f.alert.state == "firing":
        actions.append(
            f"Acknowledge it with `nephos alerts ack {f.alert.id}` once someone is on it."
        )
    urgency, reason = _urgency(f)
    return ExplanationDoc(
        what_this_means=what,
        observed=observed[:12],
        likely_causes=causes[:6],
        actions=actions[:10],
        urgency=urgency,
        urgency_reason=reason,
    )


def _opened(f: AlertFacts) -> str:
    a = f.alert
    if a.state == "resolved" and a.resolved_at is not None:
        opened = utc_time(a.started_at, with_date=True)
        return f"Alert opened at {opened} and resolved at {utc_time(a.resolved_at)}."
    state = "acknowledged" if a.state == "acknowledged" else "firing"
    return (
        f"Alert {state} since {utc_time(a.started_at, with_date=True)} ({_minutes(f)}), "
        f"severity {a.severity}."
    )


def _check(f: AlertFacts) -> tuple[str, list[str], list[str], list[str]]:
    a = f.alert
    kind = f.target_kind or a.source
    address = f" ({f.target_address})" if f.target_address else ""
    condition = f" The failing condition is {a.condition}." if a.condition else ""
    if a.source == "certificate":
        what = (
            f"The TLS certificate of {a.target}{address} needs attention: {clip(a.message, 200)}."
        )
    elif a.source == "instance":
        what = sentence(
            f"Instance {a.target} on {a.provider} is not running as it should: "
            + clip(a.message, 200)
        )
    else:
        verb = "was failing" if a.state == "resolved" else "is failing"
        what = (
            sentence(f"The {kind} check of {a.target}{address} {verb}: {clip(a.message, 200)}")
            + condition
        )
    observed = [_opened(f)]
    if f.recent_checks and not f.recent_failures:
        observed.append(f"All of the last {f.recent_checks} checks passed.")
    elif f.recent_checks and not f.consecutive_failures:
        observed.append(
            f"{f.recent_failures} of the last {f.recent_checks} checks failed; the latest passed."
        )
    elif f.recent_checks:
        observed.append(
            f"{f.recent_failures} of the last {f.recent_checks} checks failed, the last "
            f"{f.consecutive_failures} in a row."
        )
    if f.last_status_code is not None:
        observed.append(f"The last answer was HTTP {f.last_status_code}.")
    if f.last_error:
        observed.append(f"The last error: {clip(f.last_error, 200)}")
    elif f.last_reason:
        observed.append(f"The last check's reason: {clip(f.last_reason, 200)}")
    if f.latency_last_ms is not None and f.latency_p50_ms is not None:
        observed.append(
            f"Latency: {number(f.latency_last_ms, 0)} ms on the last check, "
            f"{number(f.latency_p50_ms, 0)} ms median over the recent ones."
        )
    if f.instance_state:
        observed.append(f"Its instance is {f.instance_state}.")
    if f.related:
        observed.append(
            f"Also open: {names(list(dict.fromkeys(r.target for r in f.related)))} "
            f"({', '.join(sorted({r.provider for r in f.related}))})."
        )
    if a.flapping:
        observed.append("It is flapping: failing and recovering in turn.")
    observed.extend(_evidence_lines(a.evidence))
    return what, observed, _check_causes(f), _check_actions(f)


def _evidence_lines(ev: Mapping[str, Any]) -> list[str]:
    out = []
    for key in sorted(ev)[:6]:
        value = ev[key]
        if isinstance(value, dict | list):
            continue
        out.append(sentence(f"Recorded {key.replace('_', ' ')}: {clip(str(value), 80)}"))
    return out


def _check_causes(f: AlertFacts) -> list[str]:
    a = f.alert
    text = " ".join(x for x in (f.last_error, f.last_reason, a.message) if x).lower()
    causes = []
    same_provider = [r for r in f.related if r.provider == a.provider and r.source == a.source]
    if len(same_provider) >= 2:
        causes.append(
            f"Several targets on {a.provider} fail at once, so a provider or network problem "
            "is more likely than a fault in this one service."
        )
    if f.instance_state in _DOWN_STATES:
        causes.append(
            f"The instance it runs on is {f.instance_state}, which alone would explain it."
        )
    code = f.last_status_code
    if code is not None and code >= 500:
        causes.append(
            "The service answers but fails inside: a crash loop, a bad deploy, or a dependency "
            "(database, upstream API) that is down."
        )
    elif code is not None and code >= 400:
        causes.append("The endpoint rejects the request: a moved path, changed auth or a deploy.")
    if "timed out" in text or "timeout" in text:
        causes.append(
            "The service or the path to it is too slow or unreachable: overload, a hung "
            "process, or a firewall or security-group change."
        )
    if "refused" in text:
        causes.append("Nothing listens on the port: the process is down or moved.")
    if "nxdomain" in text or "resolve" in text or a.source == "dns":
        causes.append("The name does not resolve as expected: a DNS record changed or vanished.")
    if "certificate" in text or "tls" in text or a.source == "certificate":
        causes.append("The certificate is expired, about to expire, or does not match the name.")
    if "latency" in text or "slow" in text or "response_time" in text:
        causes.append("The service is slow: load, a slow dependency, or an exhausted resource.")
    if a.flapping:
        causes.append(
            "An intermittent fault, or thresholds tighter than the service's normal jitter."
        )
    if not causes:
        causes.append(
            "The recorded facts do not point at one cause; the last error and the service's "
            "own logs are the place to start."
        )
    return list(dict.fromkeys(causes))


def _check_actions(f: AlertFacts) -> list[str]:
    a = f.alert
    text = " ".join(x for x in (f.last_error, f.last_reason, a.message) if x).lower()
    actions = []
    if f.instance_state in _DOWN_STATES:
        actions.append(
            f"Find out why the instance is {f.instance_state} in the {a.provider} console, "
            "and start it."
        )
    if f.last_status_code is not None and f.last_status_code >= 500:
        actions.append(
            f"Read the service's logs from {utc_time(a.started_at)} on and check its last deploy; "
            "roll back if the two coincide."
        )
    if "timed out" in text or "timeout" in text or "refused" in text:
        actions.append(
            "Check that the process runs and listens, then the firewall and security groups "
            "between nephos and it."
        )
    if a.source == "certificate":
        actions.append("Renew the certificate and deploy the whole chain.")
    if f.target_address:
        actions.append(f"Reproduce the check by hand against {f.target_address}.")
    if not actions:
        actions.append(f"Look at {a.target} directly: its logs, its host and its dependencies.")
    return actions


def _anomaly(f: AlertFacts) -> tuple[str, list[str], list[str], list[str]]:
    a = f.alert
    ev = a.evidence
    metric = str(ev.get("metric", "the metric"))
    unit = str(ev.get("unit", ""))
    kind = str(ev.get("kind", "spike"))
    label = metric_label(metric)
    observed_value = _ev_number(ev, "observed")
    baseline = ev.get("baseline") if isinstance(ev.get("baseline"), dict) else {}
    median = _ev_number(baseline or {}, "median")
    if observed_value is not None and median is not None:
        what = (
            f"{metric_start(metric)} on {a.target} is far from its usual level: "
            f"{format_level(observed_value, unit)} against a typical {format_level(median, unit)} "
            f"({kind.replace('_', ' ')})."
        )
    else:
        what = sentence(
            f"{metric_start(metric)} on {a.target} behaves unusually ({kind.replace('_', ' ')}): "
            + clip(a.message, 200)
        )
    observed = [_opened(f)]
    deviation = _ev_number(ev, "deviation")
    if deviation is not None:
        way = "above" if deviation >= 0 else "below"
        observed.append(f"That is {number(abs(deviation))} robust deviations {way} the baseline.")
    spread = _ev_number(baseline or {}, "spread")
    if median is not None and spread is not None:
        observed.append(
            f"The baseline: median {format_level(median, unit)}, "
            f"spread {format_level(spread, unit)}."
        )
    confidence = _ev_number(ev, "confidence")
    if confidence is not None:
        observed.append(f"The detector's confidence: {percent(confidence * 100, 0)}.")
    if ev.get("detail"):
        observed.append(f"Detail: {clip(str(ev['detail']), 160)}.")
    causes = list(_ANOMALY_CAUSES.get(kind, _ANOMALY_CAUSES["spike"]))
    actions = [
        f"Compare {label} on {a.target} with its deploys, jobs and traffic around "
        f"{utc_time(a.started_at)}.",
        f"Run `nephos trend {metric} --instance {a.target}` to see the shape over the last days.",
    ]
    return what, observed, causes, actions


def _forecast(f: AlertFacts) -> tuple[str, list[str], list[str], list[str]]:
    a = f.alert
    ev = a.evidence
    metric = str(ev.get("metric", ""))
    unit = str(ev.get("unit", ""))
    threshold = _ev_number(ev, "threshold")
    hours = _ev_number(ev, "hours_to_threshold")
    interval = ev.get("interval_hours")
    if threshold is None or hours is None:
        what = sentence(
            f"{metric_start(metric)} on {a.target} is forecast to cross its threshold: "
            + clip(a.message, 200)
        )
    else:
        what = (
            f"{metric_start(metric)} on {a.target} is on course to reach "
            f"{format_level(threshold, unit)} in about {span_hours(hours)}. Nothing has failed "
            "yet: this is a warning ahead of time."
        )
    observed = [_opened(f)]
    current = _ev_number(ev, "current")
    slope = _ev_number(ev, "slope_per_hour")
    if current is not None and slope is not None:
        observed.append(
            f"Now at {format_level(current, unit)}, rising {format_level(slope, unit)} per hour."
        )
    if isinstance(interval, list) and len(interval) == 2:
        observed.append(
            f"The crossing is expected between {number(float(interval[0]))} and "
            f"{number(float(interval[1]))} hours from the forecast."
        )
    r2 = _ev_number(ev, "r2")
    if r2 is not None:
        fit = str(ev.get("method", "linear"))
        points = ev.get("points")
        over = f" over {points} points" if isinstance(points, int) else ""
        observed.append(f"Fitted with a {fit} model{over}, R² {r2:.2f}.")
    causes = list(_FORECAST_CAUSES.get(metric, ["Steady growth that nothing bounds."]))
    actions = [
        _FORECAST_ACTIONS.get(metric, "Find what drives the growth and bound it."),
        "Run `nephos predict` after the change to see the forecast move.",
    ]
    return what, observed, causes, actions


def _urgency(f: AlertFacts) -> tuple[int, str]:
    a = f.alert
    if a.state == "resolved":
        return 2, "It has resolved; what is left is to learn why it happened."
    if a.source == "forecast":
        hours = _ev_number(a.evidence, "hours_to_threshold")
        if hours is None:
            return 5, "A forecast without a time to threshold: plan it in."
        if hours < 12:
            score, why = 8, f"the threshold is only about {span_hours(hours)} away"
        elif hours < 24:
            score, why = 6, f"the threshold is about {span_hours(hours)} away: within the day"
        else:
            score, why = 4, f"the threshold is about {span_hours(hours)} away: time to plan"
        return score, f"Nothing is broken yet, but {why}."
    base = {"critical": 8, "warning": 5, "info": 3}.get(a.severity, 5)
    reasons = [f"a {a.severity} {a.source} alert"]
    if a.source == "anomaly":
        confidence = _ev_number(a.evidence, "confidence")
        base -= 1
        if confidence is not None and confidence < 0.5:
            base -= 1
            reasons.append("the detector is not sure of it")
    elif f.consecutive_failures >= 5 or a.minutes_open >= 30:
        base += 1
        reasons.append(f"open for {_minutes(f)}")
    if len(f.related) >= 2:
        base += 1
        reasons.append("other alerts are open beside it")
    if a.state == "acknowledged":
        base -= 1
        reasons.append("someone has acknowledged it")
    score = max(1, min(10, base))
    return score, clip(
        cap(reasons[0]) + ("; " + "; ".join(reasons[1:]) if reasons[1:] else "") + ".", 300
    )
