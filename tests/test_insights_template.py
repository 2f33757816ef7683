"""The template narrator: golden outputs on fixed facts, every number grounded, the text render.

Goldens live in tests/golden/insights/; regenerate with NEPHOS_UPDATE_GOLDEN=1 after an
intended change of wording, and read the diff.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from nephos.insights.documents import QUICK_LIMIT
from nephos.insights.facts import AlertFacts, facts_dict
from nephos.insights.grounding import FactIndex
from nephos.insights.narrators.template import TemplateNarrator
from nephos.insights.render import explanation_text, summary_text, trend_text
from tests.insights_fixtures import (
    NOW,
    anomaly_alert,
    api_alert,
    api_alert_facts,
    degraded_summary,
    disk_forecast_alert,
    healthy_summary,
    trend_facts,
)

GOLDEN = Path(__file__).parent / "golden" / "insights"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("NEPHOS_UPDATE_GOLDEN") or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def _sections(document: object) -> dict[str, str]:
    values = document.model_dump()  # type: ignore[attr-defined]
    return {
        k: "\n".join(v) if isinstance(v, list) else str(v)
        for k, v in values.items()
        if not isinstance(v, int)
    }


async def test_summary_of_a_degraded_fleet_matches_its_golden_text() -> None:
    narration = await TemplateNarrator().summarize(degraded_summary())
    golden("summary_degraded.txt", summary_text(narration))


async def test_summary_of_a_healthy_fleet_matches_its_golden_text() -> None:
    narration = await TemplateNarrator().summarize(healthy_summary())
    golden("summary_healthy.txt", summary_text(narration))


@pytest.mark.parametrize(
    "name,facts",
    [
        ("explain_sentinel.txt", api_alert_facts()),
        ("explain_anomaly.txt", AlertFacts(as_of=NOW, alert=anomaly_alert())),
        ("explain_forecast.txt", AlertFacts(as_of=NOW, alert=disk_forecast_alert())),
    ],
)
async def test_explanations_of_each_alert_source_match_their_golden_text(
    name: str, facts: AlertFacts
) -> None:
    narration = await TemplateNarrator().explain(facts)
    golden(name, explanation_text(narration, facts.alert))


async def test_trend_matches_its_golden_text() -> None:
    narration = await TemplateNarrator().describe_trend(trend_facts())
    golden("trend_latency.txt", trend_text(narration, ""))


async def test_every_number_the_template_writes_is_grounded_in_its_facts() -> None:
    narrator = TemplateNarrator()
    cases = [
        (degraded_summary(), (await narrator.summarize(degraded_summary())).document),
        (healthy_summary(), (await narrator.summarize(healthy_summary())).document),
        (api_alert_facts(), (await narrator.explain(api_alert_facts())).document),
        (trend_facts(), (await narrator.describe_trend(trend_facts())).document),
    ]
    for alert in (anomaly_alert(), disk_forecast_alert()):
        facts = AlertFacts(as_of=NOW, alert=alert)
        cases.append((facts, (await narrator.explain(facts)).document))
    for facts, document in cases:
        index = FactIndex(facts_dict(facts))
        for section, text in _sections(document).items():
            assert index.problems(text) == [], f"{type(facts).__name__}.{section}: {text}"


async def test_quick_summary_is_one_sentence_within_the_limit_with_the_score() -> None:
    many = replace(
        degraded_summary(),
        alerts=tuple(api_alert(id=f"al-{i:06d}", target=f"service-{i}") for i in range(40)),
    )
    quick = (await TemplateNarrator().summarize(many)).document.quick
    assert len(quick) <= QUICK_LIMIT
    assert quick.startswith("Degraded at 72.5%")
    assert "\n" not in quick


async def test_explanation_puts_the_runbook_first_and_separates_observed_from_causes() -> None:
    doc = (await TemplateNarrator().explain(api_alert_facts())).document
    assert doc.actions[0].startswith("Follow the runbook: Restart the api service")
    assert any("HTTP 503" in line for line in doc.observed)
    assert not any("HTTP 503" in line for line in doc.likely_causes)
    assert doc.likely_causes[0].startswith("The service answers but fails inside")
    assert 1 <= doc.urgency <= 10


async def test_a_resolved_alert_is_not_urgent() -> None:
    facts = replace(
        api_alert_facts(), alert=api_alert(state="resolved", resolved_at=NOW, minutes_open=42.0)
    )
    doc = (await TemplateNarrator().explain(facts)).document
    assert doc.urgency <= 2
    assert not any("nephos alerts ack" in a for a in doc.actions)


def test_facts_render_as_json_data() -> None:
    data = facts_dict(degraded_summary())
    assert json.loads(json.dumps(data)) == data
    assert data["alerts"][0]["started_at"] == "2026-01-05T11:18:00Z"
