"""The ``template`` narrator: offline, deterministic sentences built from the facts.

It is what a user without a model account reads, and what replaces any section of a model's
answer that fails the grounding check, so every section is always written. Explanations of
single alerts live in ``template_explain.py``.
"""

from __future__ import annotations

from typing import ClassVar

from nephos.insights.documents import QUICK_LIMIT, ExplanationDoc, SummaryDoc, TrendDoc
from nephos.insights.facts import (
    AlertFact,
    AlertFacts,
    ForecastFact,
    SummaryFacts,
    TrendFact,
    TrendFacts,
)
from nephos.insights.narrators.base import Narration, Narrator
from nephos.insights.narrators.template_explain import explanation
from nephos.insights.words import (
    cap,
    clip,
    format_level,
    metric_label,
    metric_start,
    names,
    number,
    percent,
    plural,
    sentence,
    span_hours,
    span_minutes,
    utc_time,
)

__all__ = [
    "TemplateNarrator",
    "forecast_sentence",
    "summary_document",
    "trend_document",
    "trend_sentence",
]

_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
_MAX_ALERT_FINDINGS = 4
_MAX_ACTIONS = 5
_SIGNIFICANT_R2 = 0.5
_SIGNIFICANT_CHANGE = 10.0


def _worst_first(alerts: tuple[AlertFact, ...]) -> list[AlertFact]:
    return sorted(alerts, key=lambda a: (_SEVERITY_RANK.get(a.severity, 3), a.started_at, a.id))


def _counts(f: SummaryFacts) -> tuple[int, int, int]:
    """Open, firing and firing-critical alerts: the facts' counts, or the listed alerts'."""
    firing = [a for a in f.alerts if a.state == "firing"]
    return (
        f.open_alerts or len(f.alerts),
        f.firing_alerts or len(firing),
        f.critical_alerts or sum(1 for a in firing if a.severity == "critical"),
    )


def _health_status(f: SummaryFacts) -> str:
    if f.score is None:
        return (
            "Unknown: nothing has been measured yet (no check results, no instances and no "
            "firing alerts)."
        )
    _, firing, critical = _counts(f)
    head = f"{cap(f.health)} at {percent(f.score)}"
    if f.targets and not f.targets_unhealthy and not f.targets_degraded and not firing:
        every = plural(f.targets, "target")
        return f"{head}: all {every} passed their latest check and no alert is firing."
    parts = []
    if f.targets:
        bad = []
        if f.targets_unhealthy:
            bad.append(f"{f.targets_unhealthy} unhealthy")
        if f.targets_degraded:
            bad.append(f"{f.targets_degraded} degraded")
        parts.append(
            f"{' and '.join(bad)} of {plural(f.targets, 'target')}"
            if bad
            else f"all {plural(f.targets, 'target')} passing"
        )
    if f.instances_down:
        parts.append(f"{plural(f.instances_down, 'instance')} down of {f.instances}")
    if firing:
        tail = f", {critical} of them critical" if critical and critical < firing else ""
        tail = " (all critical)" if critical == firing and firing > 1 else tail
        verb = "is" if firing == 1 else "are"
        parts.append(f"{plural(firing, 'alert')} {verb} firing{tail}")
    return f"{head}: " + "; ".join(parts) + "."


def _alert_finding(a: AlertFact) -> str:
    state = "acknowledged, " if a.state == "acknowledged" else ""
    flap = ", flapping" if a.flapping else ""
    where = f" on {a.provider}" if a.provider and a.provider != "other" else ""
    since = span_minutes(a.minutes_open)
    # The title starts with a name more often than not: never change its case.
    head = f"{clip(a.title, 90)}{where} ({state}{a.severity}{flap}, open for {since})"
    if a.source in ("forecast", "anomaly"):
        return sentence(head)
    return sentence(f"{head}: {clip(a.message, 140)}")


def trend_sentence(t: TrendFact) -> str:
    """One series' trend in a sentence: direction, rate, fit, and change on the period before."""
    label = f"{metric_start(t.metric)} on {t.resource}"
    rate = format_level(abs(t.slope_per_hour), t.unit)
    if t.r2 < _SIGNIFICANT_R2:
        mean = format_level(t.mean, t.unit)
        shape = f"{label} has no clear direction (R² {t.r2:.2f}); it averaged {mean}"
    else:
        way = "rising" if t.slope_per_hour > 0 else "falling"
        last = format_level(t.last, t.unit)
        shape = f"{label} is {way} {rate} per hour (R² {t.r2:.2f}), now at {last}"
    if t.change_pct is not None and t.previous_mean is not None:
        way = "above" if t.change_pct >= 0 else "below"
        shape += (
            f"; its mean is {percent(abs(t.change_pct), 0)} {way} the previous "
            f"{span_hours(t.window_hours)}"
        )
    return shape + "."


def forecast_sentence(p: ForecastFact) -> str:
    """One forecast in a sentence, with its interval and fit."""
    return (
        f"{metric_start(p.metric)} on {p.resource} reaches "
        f"{format_level(p.threshold, p.unit)} in about {span_hours(p.hours_to_threshold)} "
        f"(between {number(p.earliest_hours)} and {number(p.latest_hours)} hours; "
        f"{p.method} fit, R² {p.r2:.2f}), from {format_level(p.current, p.unit)} now."
    )


def _findings(f: SummaryFacts) -> list[str]:
    out = [_alert_finding(a) for a in _worst_first(f.alerts)[:_MAX_ALERT_FINDINGS]]
    total, _, _ = _counts(f)
    if total > _MAX_ALERT_FINDINGS:
        rest = total - _MAX_ALERT_FINDINGS
        out.append(f"{plural(rest, 'more alert')} open; `nephos alerts` lists them all.")
    scored = [p for p in f.providers if p.score is not None]
    if len(scored) > 1:
        weakest = min(scored, key=lambda p: (p.score or 0.0, p.name))
        if weakest.health != "healthy":
            others = [p.name for p in scored if p is not weakest and p.health == "healthy"]
            tail = (
                f"; {names(others)} {'is' if len(others) == 1 else 'are'} healthy" if others else ""
            )
            parts = [
                f"{weakest.targets_unhealthy} of {plural(weakest.targets, 'target')} unhealthy"
                if weakest.targets_unhealthy
                else "",
                f"{weakest.targets_degraded} degraded" if weakest.targets_degraded else "",
                f"{weakest.instances_down} of {plural(weakest.instances, 'instance')} down"
                if weakest.instances_down
                else "",
                f"{plural(weakest.firing_alerts, 'alert')} firing" if weakest.firing_alerts else "",
            ]
            why = ", ".join(p for p in parts if p)
            out.append(
                f"{weakest.name} is the weakest provider at {percent(weakest.score or 0.0)}"
                f"{f' ({why})' if why else ''}{tail}."
            )
    for anomaly in f.anomalies[:3]:
        if anomaly.alert_id and any(a.id == anomaly.alert_id for a in f.alerts):
            continue  # already told as an open alert
        out.append(
            f"{metric_start(anomaly.metric)} on {anomaly.resource} went to "
            f"{format_level(anomaly.observed, anomaly.unit)} against a usual "
            f"{format_level(anomaly.baseline, anomaly.unit)} at {utc_time(anomaly.started_at)} "
            f"({anomaly.kind.replace('_', ' ')}, "
            f"confidence {percent(anomaly.confidence * 100, 0)})."
        )
    for trend in _significant(f.trends)[:2]:
        out.append(trend_sentence(trend))
    if f.state_changes:
        last = f.state_changes[-1]
        out.append(
            f"{plural(f.state_change_count, 'state change')} in the last "
            f"{span_hours(f.period_hours)}; the latest: {last.target} went from {last.previous} "
            f"to {last.current} at {utc_time(last.at)}."
        )
    out.extend(f"Not available: {item}." for item in f.missing)
    if not out:
        out.append("Nothing stands out: no alert is open and nothing unusual was measured.")
    return out


def _significant(trends: tuple[TrendFact, ...]) -> list[TrendFact]:
    moving = [
        t
        for t in trends
        if t.r2 >= _SIGNIFICANT_R2
        and t.change_pct is not None
        and abs(t.change_pct) >= _SIGNIFICANT_CHANGE
    ]
    return sorted(moving, key=lambda t: (-abs(t.change_pct or 0.0), t.resource, t.metric))


def action_for(a: AlertFact) -> str:
    """What to do first about one open alert, in one sentence."""
    runbook = f" Runbook: {clip(a.runbook, 160)}" if a.runbook else ""
    ev = a.evidence
    if a.source == "forecast" and "threshold" in ev:
        label = metric_label(str(ev.get("metric", "")))
        level = format_level(float(ev["threshold"]), str(ev.get("unit", "")))
        hours = float(ev.get("hours_to_threshold", 0.0))
        return (
            f"Act on {label} on {a.target} before it reaches {level} in about "
            f"{span_hours(hours)}: {_remedy(str(ev.get('metric', '')))}.{runbook}"
        )
    if a.source == "anomaly":
        label = metric_label(str(ev.get("metric", a.condition or "the metric")))
        return sentence(f"Look at {label} on {a.target}: {clip(a.message, 120)}") + runbook
    if a.source == "certificate":
        return sentence(f"Renew the certificate of {a.target}: {clip(a.message, 120)}") + runbook
    if a.source == "instance":
        return (
            sentence(f"Check instance {a.target} ({a.provider}): {clip(a.message, 120)}") + runbook
        )
    what = f" ({a.condition})" if a.condition else ""
    return (
        f"Investigate {a.target}{what}: {clip(a.message, 120).rstrip('.…')}; "
        f"`nephos explain-alert {a.id}` has the detail.{runbook}"
    )


def _remedy(metric: str) -> str:
    return {
        "disk_percent": "free space, rotate logs or grow the volume",
        "mem_percent": "find the process that grows, restart it or add memory",
        "cpu_percent": "add capacity or move load elsewhere",
        "latency_ms": "find the slow dependency before users notice",
    }.get(metric, "find what drives the growth")


def _actions(f: SummaryFacts) -> list[str]:
    urgent = [
        a
        for a in _worst_first(f.alerts)
        if a.state == "firing" and a.severity in ("critical", "warning") and not a.suppressed_by
    ]
    out = [f"{action_for(a)}" for a in urgent[:_MAX_ACTIONS]]
    if len(urgent) > _MAX_ACTIONS:
        out.append(
            f"Then the other {plural(len(urgent) - _MAX_ACTIONS, 'alert')} in `nephos alerts`."
        )
    return out or ["None right now: no critical or warning alert is firing."]


def _predictions(f: SummaryFacts) -> list[str]:
    if not f.forecasts:
        return ["No capacity metric is on course to cross its threshold."]
    return [forecast_sentence(p) for p in f.forecasts[:5]]


def _optimizations(f: SummaryFacts) -> list[str]:
    out = []
    flapping = sorted({a.target for a in f.alerts if a.flapping})
    if flapping:
        out.append(
            f"{names(flapping)} {'is' if len(flapping) == 1 else 'are'} flapping: raise "
            "failure_threshold or widen the conditions, so that one alert stands for one incident."
        )
    degraded_only = f.targets_degraded and not any(a.severity == "warning" for a in f.alerts)
    if degraded_only:
        out.append(
            f"{plural(f.targets_degraded, 'target')} {'is' if f.targets_degraded == 1 else 'are'} "
            "degraded without a warning alert: set on_degraded on their alert rules if slow "
            "answers matter."
        )
    for trend in _significant(f.trends):
        if trend.slope_per_hour > 0 and trend.metric in (
            "latency_ms",
            "mem_percent",
            "disk_percent",
        ):
            out.append(
                f"{metric_start(trend.metric)} on {trend.resource} keeps rising "
                f"(its mean {percent(abs(trend.change_pct or 0.0), 0)} above the previous "
                f"period): "
                f"{_remedy(trend.metric)}."
            )
            break
    if any("warehouse" in item for item in f.missing):
        out.append(
            "Run `nephos etl run` (or the sentinel with the ETL on) so that history reaches the "
            "warehouse: trends, availability and forecasts need it."
        )
    return out or ["No change suggested by this period's data."]


def _quick(f: SummaryFacts, findings: list[str], predictions: list[str]) -> str:
    if f.score is None:
        return "Unknown: nothing has been measured yet."
    head = f"{cap(f.health)} at {percent(f.score)}"
    firing = [a for a in _worst_first(f.alerts) if a.state == "firing"]
    if firing:
        targets = list(dict.fromkeys(a.target for a in firing))
        tail = f"{plural(_counts(f)[1], 'alert')} firing ({names(targets, limit=2)})"
    elif f.forecasts:
        tail = predictions[0].rstrip(".")
    else:
        tail = "nothing needs attention"
    if firing and f.forecasts:
        tail += f"; {metric_label(f.forecasts[0].metric)} on {f.forecasts[0].resource} " + (
            f"reaches {format_level(f.forecasts[0].threshold, f.forecasts[0].unit)} in about "
            f"{span_hours(f.forecasts[0].hours_to_threshold)}"
        )
    del findings
    return clip(f"{head}: {tail}.", QUICK_LIMIT)


def summary_document(f: SummaryFacts) -> SummaryDoc:
    """The template's summary of ``f``; deterministic."""
    findings = _findings(f)
    predictions = _predictions(f)
    return SummaryDoc(
        health_status=_health_status(f),
        key_findings=findings[:12],
        immediate_actions=_actions(f)[:10],
        predictions=predictions,
        optimizations=_optimizations(f)[:10],
        quick=_quick(f, findings, predictions),
    )


def trend_document(f: TrendFacts) -> TrendDoc:
    """The template's trend analysis of ``f``; deterministic."""
    label = metric_label(f.metric)
    if not f.series:
        where = f" on {f.instance}" if f.instance else ""
        return TrendDoc(
            analysis=[f"No {label} data{where} in the last {span_hours(f.window_hours)}."]
        )
    ordered = sorted(f.series, key=lambda t: (-abs(t.slope_per_hour), t.resource))
    out = [trend_sentence(t) for t in ordered[:4]]
    if len(f.series) > 1:
        rising = sum(1 for t in f.series if t.slope_per_hour > 0 and t.r2 >= _SIGNIFICANT_R2)
        out.insert(
            0,
            f"{len(f.series)} series "
            f"of {label} over {span_hours(f.window_hours)}: {rising} clearly rising.",
        )
    return TrendDoc(analysis=out)


class TemplateNarrator(Narrator):
    """Writes every section from the facts alone: offline, deterministic, free."""

    name: ClassVar[str] = "template"

    async def summarize(self, facts: SummaryFacts) -> Narration[SummaryDoc]:
        """The template summary; never raises."""
        return Narration(summary_document(facts), narrator=self.name)

    async def explain(self, facts: AlertFacts) -> Narration[ExplanationDoc]:
        """The template explanation; never raises."""
        return Narration(explanation(facts), narrator=self.name)

    async def describe_trend(self, facts: TrendFacts) -> Narration[TrendDoc]:
        """The template trend analysis; never raises."""
        return Narration(trend_document(facts), narrator=self.name)
