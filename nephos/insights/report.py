"""``nephos report`` documents: the summary, availability per target (SLA %), p50/p95 latency,
incidents with their durations, anomalies and forecasts, with charts, as JSON, Markdown or HTML.

Rendering is pure and deterministic: the same facts and narration give the same bytes (no
wall-clock time, sorted keys and rows), so two runs over the same period give the same report.
Names and messages from monitored systems are escaped for the format they land in.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import Any

from nephos.insights.charts import sparkline, svg_chart
from nephos.insights.documents import SummaryDoc
from nephos.insights.facts import ReportFacts, facts_dict
from nephos.insights.narrators.base import Narration
from nephos.insights.render import clean
from nephos.insights.words import format_level, metric_label, number, span_minutes

__all__ = ["FORMATS", "render_report", "report_json"]

FORMATS = ("md", "html", "json")
_SECTIONS = (
    ("Key findings", "key_findings", False),
    ("Immediate actions needed", "immediate_actions", True),
    ("Predictions", "predictions", False),
    ("Recommended optimizations", "optimizations", False),
)


def _when(ts: datetime | None) -> str:
    return "ongoing" if ts is None else ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _ms(value: float | None) -> str:
    return "–" if value is None else number(value, 0)


def _title(f: ReportFacts) -> str:
    return f"nephos report {_when(f.since)} – {_when(f.until)} UTC"


def report_json(f: ReportFacts, narration: Narration[SummaryDoc]) -> dict[str, Any]:
    """The report as JSON data: the narrated summary, its provenance and every figure."""
    facts = facts_dict(f)
    return {
        "title": _title(f),
        "health": f.summary.health,
        "score": f.summary.score,
        "summary": narration.document.model_dump(),
        "meta": narration.meta(),
        **{k: v for k, v in facts.items() if k != "summary"},
        "facts": facts["summary"],
    }


def _md(text: str) -> str:
    """Untrusted text made inert in Markdown: one line, tables and markup characters escaped."""
    out = clean(text)
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out


def _markdown(f: ReportFacts, n: Narration[SummaryDoc]) -> str:
    doc = n.document
    s = f.summary
    lines = [f"# {_title(f)}", "", f"**Health status:** {_md(doc.health_status)}", ""]
    for title, key, numbered in _SECTIONS:
        items = getattr(doc, key)
        lines += [f"## {title}", ""]
        lines += [f"{i}. {_md(x)}" if numbered else f"- {_md(x)}" for i, x in enumerate(items, 1)]
        lines += [""] if items else ["None.", ""]
    lines += ["## Availability", ""]
    if f.fleet_availability_pct is not None:
        lines.append(
            f"Fleet: {number(f.fleet_availability_pct, 3)}% of checks passed; latency p50 "
            f"{_ms(f.fleet_p50_ms)} ms, p95 {_ms(f.fleet_p95_ms)} ms."
        )
        lines.append("")
    if f.hourly_availability:
        values = [v for _, v in f.hourly_availability]
        lines.append(
            f"Availability per hour: `{sparkline(values)}` "
            f"({number(min(values), 2)}% to {number(max(values), 2)}%)  "
        )
    if f.hourly_p95_ms:
        values = [v for _, v in f.hourly_p95_ms]
        lines.append(
            f"p95 latency per hour: `{sparkline(values)}` "
            f"({_ms(min(values))} ms to {_ms(max(values))} ms)"
        )
        lines.append("")
    if f.availability:
        lines += [
            "| Target | Provider | SLA % | Checks | Failures | p50 ms | p95 ms | Last |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for a in sorted(f.availability, key=lambda a: (a.availability_pct, a.target)):
            lines.append(
                f"| {_md(a.target)} | {_md(a.provider)} | {number(a.availability_pct, 3)} | "
                f"{a.checks} | {a.failures} | {_ms(a.p50_ms)} | {_ms(a.p95_ms)} | {a.last_health} |"
            )
    else:
        lines.append("No checks in this period.")
    lines += ["", "## Incidents", ""]
    if f.incidents:
        lines += [
            "| Target | Started | Ended | Duration | Failed checks | Reason |",
            "|---|---|---|---|---:|---|",
        ]
        for i in f.incidents:
            lines.append(
                f"| {_md(i.target)} | {_when(i.started_at)} | {_when(i.ended_at)} | "
                f"{span_minutes(i.minutes)} | {i.failed_checks} | {_md(i.reason[:120])} |"
            )
    else:
        lines.append("No incidents in this period.")
    lines += ["", "## Anomalies", ""]
    lines += [
        f"- {_md(a.resource)}: {metric_label(a.metric)} {format_level(a.observed, a.unit)} against "
        f"a usual {format_level(a.baseline, a.unit)} at {_when(a.started_at)} "
        f"({a.kind.replace('_', ' ')}, {a.severity})"
        for a in s.anomalies
    ] or ["None in this period."]
    lines += ["", "## Forecasts", ""]
    lines += [
        f"- {_md(p.resource)}: {metric_label(p.metric)} reaches "
        f"{format_level(p.threshold, p.unit)} "
        f"in about {number(p.hours_to_threshold, 0)} hours (between {number(p.earliest_hours)} and "
        f"{number(p.latest_hours)}; R² {p.r2:.2f})"
        for p in s.forecasts
    ] or ["No capacity metric is on course to cross its threshold."]
    lines += ["", "---", "", f"_{_md(_provenance(n))}_"]
    lines += [f"_note: {_md(x)}_" for x in n.notes]
    return "\n".join(lines) + "\n"


def _provenance(n: Narration[SummaryDoc]) -> str:
    model = f" (model {n.model})" if n.model else ""
    return f"written by the {n.narrator} narrator{model}; every figure computed by nephos"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}"
    "table{border-collapse:collapse;width:100%;font-size:.9rem}"
    "th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}"
    "td.n{text-align:right}.health{font-size:1.1rem;padding:.6rem;border-left:4px solid #2b6cb0;"
    "background:#f4f7fb}.meta{color:#666;font-size:.8rem}"
)


def _html(f: ReportFacts, n: Narration[SummaryDoc]) -> str:
    e = html.escape
    doc = n.document
    s = f.summary
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(_title(f))}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(_title(f))}</h1>",
        f'<p class="health"><strong>Health status:</strong> {e(clean(doc.health_status))}</p>',
    ]
    for title, key, numbered in _SECTIONS:
        items = getattr(doc, key)
        tag = "ol" if numbered else "ul"
        body = "".join(f"<li>{e(clean(x))}</li>" for x in items) or "<li>None.</li>"
        parts.append(f"<h2>{title}</h2><{tag}>{body}</{tag}>")
    parts.append("<h2>Availability</h2>")
    if f.fleet_availability_pct is not None:
        parts.append(
            f"<p>Fleet: {number(f.fleet_availability_pct, 3)}% of checks passed; latency p50 "
            f"{_ms(f.fleet_p50_ms)} ms, p95 {_ms(f.fleet_p95_ms)} ms.</p>"
        )
    parts.append(svg_chart(f.hourly_availability, title="Availability per hour", unit="%"))
    parts.append(svg_chart(f.hourly_p95_ms, title="p95 latency per hour", unit="ms", y_floor=0))
    rows = "".join(
        f"<tr><td>{e(a.target)}</td><td>{e(a.provider)}</td>"
        f'<td class="n">{number(a.availability_pct, 3)}</td><td class="n">{a.checks}</td>'
        f'<td class="n">{a.failures}</td><td class="n">{_ms(a.p50_ms)}</td>'
        f'<td class="n">{_ms(a.p95_ms)}</td><td>{e(a.last_health)}</td></tr>'
        for a in sorted(f.availability, key=lambda a: (a.availability_pct, a.target))
    )
    parts.append(
        "<table><tr><th>Target</th><th>Provider</th><th>SLA %</th><th>Checks</th>"
        f"<th>Failures</th><th>p50 ms</th><th>p95 ms</th><th>Last</th></tr>{rows}</table>"
        if rows
        else "<p>No checks in this period.</p>"
    )
    incidents = "".join(
        f"<tr><td>{e(i.target)}</td><td>{_when(i.started_at)}</td><td>{_when(i.ended_at)}</td>"
        f'<td>{span_minutes(i.minutes)}</td><td class="n">{i.failed_checks}</td>'
        f"<td>{e(clean(i.reason[:120]))}</td></tr>"
        for i in f.incidents
    )
    parts.append(
        "<h2>Incidents</h2>"
        + (
            "<table><tr><th>Target</th><th>Started</th><th>Ended</th><th>Duration</th>"
            f"<th>Failed checks</th><th>Reason</th></tr>{incidents}</table>"
            if incidents
            else "<p>No incidents in this period.</p>"
        )
    )
    anomalies = "".join(
        f"<li>{e(a.resource)}: {e(metric_label(a.metric))} {e(format_level(a.observed, a.unit))} "
        f"against a usual {e(format_level(a.baseline, a.unit))} at {_when(a.started_at)} "
        f"({e(a.kind.replace('_', ' '))})</li>"
        for a in s.anomalies
    )
    parts.append(f"<h2>Anomalies</h2><ul>{anomalies or '<li>None in this period.</li>'}</ul>")
    forecasts = "".join(
        f"<li>{e(p.resource)}: {e(metric_label(p.metric))} reaches "
        f"{e(format_level(p.threshold, p.unit))} in about {number(p.hours_to_threshold, 0)} hours"
        f"</li>"
        for p in s.forecasts
    )
    parts.append(f"<h2>Forecasts</h2><ul>{forecasts or '<li>None.</li>'}</ul>")
    notes = "".join(f"<br>note: {e(clean(x))}" for x in n.notes)
    parts.append(f'<p class="meta">{e(_provenance(n))}{notes}</p></body></html>')
    return "\n".join(parts) + "\n"


def render_report(f: ReportFacts, narration: Narration[SummaryDoc], fmt: str) -> str:
    """The report in ``fmt`` (``md``, ``html`` or ``json``).

    Raises:
        ValueError: ``fmt`` is none of these.
    """
    if fmt == "json":
        return json.dumps(report_json(f, narration), indent=2, sort_keys=True) + "\n"
    if fmt == "md":
        return _markdown(f, narration)
    if fmt == "html":
        return _html(f, narration)
    raise ValueError(f"unknown report format {fmt!r} (known: {', '.join(FORMATS)})")
