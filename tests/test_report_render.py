"""Report rendering on fixed facts: golden Markdown, HTML and JSON, and escaping of names that
come from monitored systems."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from nephos.insights.facts import Incident, ReportFacts, TargetAvailability
from nephos.insights.narrators.template import TemplateNarrator
from nephos.insights.report import render_report
from tests.insights_fixtures import NOW, degraded_summary
from tests.test_insights_template import golden


def report_facts() -> ReportFacts:
    since = NOW - timedelta(hours=24)
    hours = [since + timedelta(hours=h) for h in range(24)]
    return ReportFacts(
        summary=degraded_summary(),
        since=since,
        until=NOW,
        availability=(
            TargetAvailability("api", "aws", 720, 21, 97.083, 118.0, 640.5, "unhealthy"),
            TargetAvailability("web", "gcp", 720, 0, 100.0, 88.0, 210.0, "healthy"),
            TargetAvailability("db|<b>x</b>", "vultr", 720, 2, 99.722, 4.0, 9.5, "healthy"),
        ),
        incidents=(
            Incident("api", "aws", NOW - timedelta(minutes=44), None, 44.0, 21, "HTTP 503"),
            Incident(
                "db|<b>x</b>",
                "vultr",
                NOW - timedelta(hours=9),
                NOW - timedelta(hours=8, minutes=56),
                4.0,
                2,
                "timed out",
            ),
        ),
        hourly_availability=tuple(
            (h, 100.0 - (8.0 if i > 22 else 0.0)) for i, h in enumerate(hours)
        ),
        hourly_p95_ms=tuple((h, 200.0 + 10.0 * i) for i, h in enumerate(hours)),
        fleet_availability_pct=98.935,
        fleet_p50_ms=96.0,
        fleet_p95_ms=410.0,
    )


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
async def test_report_matches_its_golden_file(fmt: str) -> None:
    facts = report_facts()
    narration = await TemplateNarrator().summarize(facts.summary)
    text = render_report(facts, narration, fmt)
    golden(f"report.{fmt}", text)
    assert render_report(facts, narration, fmt) == text


async def test_names_from_monitored_systems_are_escaped_in_every_format() -> None:
    facts = report_facts()
    narration = await TemplateNarrator().summarize(facts.summary)
    md = render_report(facts, narration, "md")
    html = render_report(facts, narration, "html")
    assert "| db\\|\\<b\\>x\\</b\\> |" in md, "a pipe cannot break the table"
    assert "<b>x</b>" not in html and "db|&lt;b&gt;x&lt;/b&gt;" in html
    data = json.loads(render_report(facts, narration, "json"))
    assert data["availability"][2]["target"] == "db|<b>x</b>"


async def test_an_ongoing_incident_says_so() -> None:
    facts = report_facts()
    narration = await TemplateNarrator().summarize(facts.summary)
    md = render_report(facts, narration, "md")
    assert "| api | 2026-01-05 11:16 | ongoing | 44 minutes | 21 | HTTP 503 |" in md


async def test_an_empty_period_renders_without_charts_or_tables() -> None:
    facts = replace(report_facts(), availability=(), incidents=(), hourly_availability=(),
                    hourly_p95_ms=(), fleet_availability_pct=None)  # fmt: skip
    narration = await TemplateNarrator().summarize(facts.summary)
    md = render_report(facts, narration, "md")
    html = render_report(facts, narration, "html")
    assert "No checks in this period." in md and "No incidents in this period." in md
    assert "no data</text>" in html
