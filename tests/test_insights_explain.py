"""``explain_text``, what the TUI's ``e`` shows: the store's facts when the alert is known there,
the alert alone otherwise."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from nephos.config import load_config
from nephos.insights.explain import explain_text
from nephos.model import Alert, AlertSource, AlertState, Severity
from tests.insights_seed import SEED_NOW, seed_sources, write_config


def _known() -> Alert:
    return replace(_unknown_alert(), id="al-api001")


def _unknown_alert() -> Alert:
    return Alert(
        id="al-zzzzzz",
        dedup_key="api:x",
        target="api",
        source=AlertSource.SENTINEL,
        state=AlertState.FIRING,
        severity=Severity.CRITICAL,
        title="api is down",
        message="connection refused",
        started_at=SEED_NOW - timedelta(minutes=5),
        updated_at=SEED_NOW,
    )


def test_an_alert_the_store_knows_is_explained_from_its_recent_checks(tmp_path: Path) -> None:
    hot, wh = seed_sources(tmp_path, warehouse=False)
    config = load_config(str(write_config(tmp_path, hot, wh)), env={})
    text = asyncio.run(explain_text(_known(), now=SEED_NOW, config=config))
    assert "checks failed" in text or "checks passed" in text
    assert "Follow the runbook: Check the load balancer" in text


def test_an_alert_unknown_here_is_explained_from_itself_offline() -> None:
    text = asyncio.run(explain_text(_unknown_alert(), now=SEED_NOW))
    assert text.startswith("ALERT al-zzzzzz · api is down (critical, firing)")
    assert "Nothing listens on the port" in text


def test_the_watch_explainer_reads_the_config_when_asked(tmp_path: Path) -> None:
    from nephos.cli.watch_cmd import config_explainer

    hot, wh = seed_sources(tmp_path, warehouse=False)
    explain = config_explainer(str(write_config(tmp_path, hot, wh)))
    text = asyncio.run(explain(_known()))
    assert text.startswith("ALERT al-api001 · api is down")
    assert "Follow the runbook: Check the load balancer" in text
