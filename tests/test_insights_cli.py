"""``nephos summary``, ``explain-alert``, ``trend`` and ``report`` on a seeded SQLite hot store and
DuckDB warehouse, and on the embedded defaults when one or both are missing."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from nephos.cli.main import main
from nephos.store.sqlite import SqliteHotStore
from tests.insights_seed import UNTIL, seed_sources, write_config

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("insights")
    hot, wh = seed_sources(directory)
    return write_config(directory, hot, wh)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_summary_prints_the_five_sections_and_exits_by_health(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "summary", "-c", str(seeded))
    assert code == 1  # the seed's fleet is degraded
    first = out.splitlines()[0]
    assert first.startswith("HEALTH STATUS: ") and "%" in first
    for heading in ("KEY FINDINGS", "IMMEDIATE ACTIONS NEEDED", "PREDICTIONS",
                    "RECOMMENDED OPTIMIZATIONS"):  # fmt: skip
        assert heading in out
    assert re.search(r"^  1\. ", out, re.MULTILINE), "actions are numbered"
    assert not ANSI.search(out), "no colour codes off a terminal"


def test_summary_json_carries_sections_provenance_and_facts(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "summary", "--json", "-c", str(seeded))
    document = json.loads(out)
    assert code == 1
    assert document["meta"]["narrator"] == "template"
    assert document["facts"]["health"] == "degraded"
    assert isinstance(document["immediate_actions"], list) and document["immediate_actions"]


def test_quick_summary_is_one_line_of_at_most_200_characters(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "summary", "--quick", "-c", str(seeded))
    assert len(out.strip().splitlines()) == 1
    assert len(out.strip()) <= 200
    assert out.startswith("Degraded at ")


def test_explain_a_sentinel_alert_with_its_runbook(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "explain-alert", "al-api001", "-c", str(seeded))
    assert code == 0
    for heading in ("WHAT THIS MEANS", "WHY IT HAPPENED", "ACTION TO TAKE", "URGENCY: "):
        assert heading in out
    assert "Observed:" in out and "Likely causes" in out
    assert "1. Follow the runbook: Check the load balancer" in out
    assert re.search(r"URGENCY: \d+/10 — ", out)


@pytest.mark.parametrize("alert_id,words", [("al-anom01", "far from its usual level"),
                                            ("al-fcst01", "on course to reach 90%")])  # fmt: skip
def test_explain_anomaly_and_forecast_alerts_from_their_evidence(
    seeded: Path, capsys: pytest.CaptureFixture[str], alert_id: str, words: str
) -> None:
    code, out, _ = run(capsys, "explain-alert", alert_id, "--json", "-c", str(seeded))
    document = json.loads(out)
    assert code == 0
    assert words in document["what_this_means"]
    assert 1 <= document["urgency"] <= 10


def test_explain_an_unknown_alert_is_one_line_and_exit_3(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "explain-alert", "al-nothere", "-c", str(seeded))
    assert code == 3
    assert out == ""
    assert err.count("\n") == 1 and "al-nothere" in err


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_report_of_the_same_period_is_the_same_every_time(
    seeded: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    argv = ("report", "--format", fmt, "--until", UNTIL, "-c", str(seeded))
    code, first, _ = run(capsys, *argv)
    _, second, _ = run(capsys, *argv)
    assert code == 1
    assert first == second
    assert not ANSI.search(first)


def test_markdown_report_has_sla_latency_incidents_and_sparklines(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "report", "--until", UNTIL, "-c", str(seeded))
    assert "| api | aws | 89.796 | 49 | 5 |" in out
    assert (
        "## Incidents" in out
        and "| api | 2026-11-20 00:00 | 2026-11-20 02:30 | 2.5 hours | 5 |" in out
    )
    assert re.search(r"Availability per hour: `[▁▂▃▄▅▆▇█]+`", out)
    assert "## Forecasts" in out and "disk reaches 90%" in out


def test_html_report_embeds_svg_charts_and_escapes_names(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "report", "--format", "html", "--until", UNTIL, "-c", str(seeded))
    assert out.startswith("<!DOCTYPE html>")
    assert out.count("<svg") == 2 and "<polyline" in out
    assert "<script" not in out


def test_json_report_holds_every_figure(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "report", "--format", "json", "--until", UNTIL, "-c", str(seeded))
    document = json.loads(out)
    assert document["health"] == "degraded"
    api = next(a for a in document["availability"] if a["target"] == "api")
    assert (api["checks"], api["failures"], api["availability_pct"]) == (49, 5, 89.796)
    assert document["incidents"][0]["minutes"] == 150.0
    assert document["fleet_p95_ms"] is not None
    assert len(document["hourly_availability"]) == 25


def test_report_writes_a_file_with_output(
    seeded: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "out" / "report.md"
    code, out, err = run(capsys, "report", "--until", UNTIL, "-o", str(target), "-c", str(seeded))
    assert code == 1 and out == ""
    assert target.read_text().startswith("# nephos report 2026-11-19 12:00 – 2026-11-20 12:00 UTC")
    assert "report written to" in err


def test_report_with_an_unknown_notifier_is_a_usage_error(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "report", "--notify", "pager", "-c", str(seeded))
    assert code == 3 and "pager" in err


def test_without_a_warehouse_the_commands_say_so_and_use_the_hot_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hot, _ = seed_sources(tmp_path, warehouse=False)
    config = write_config(tmp_path, hot, tmp_path / "absent.duckdb")
    code, out, _ = run(capsys, "summary", "-c", str(config))
    assert code == 1
    assert "Not available: no warehouse at" in out
    code, out, _ = run(capsys, "report", "--until", UNTIL, "-c", str(config))
    assert "| api | aws | 89.796 | 49 | 5 |" in out  # the same figures, from the hot store
    assert not (tmp_path / "absent.duckdb").exists(), "nothing is created"


def test_with_nothing_recorded_yet_the_summary_is_unknown_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tmp_path / "none.db", tmp_path / "none.duckdb")
    code, out, _ = run(capsys, "summary", "-c", str(config))
    assert code == 0
    assert out.startswith("HEALTH STATUS: Unknown: nothing has been measured yet")
    assert "no hot store at" in out
    assert not (tmp_path / "none.db").exists()


def test_an_empty_store_that_opens_is_nothing_measured_yet_and_exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hot = tmp_path / "hot.db"
    store = SqliteHotStore(str(hot))
    asyncio.run(store.open())
    asyncio.run(store.close())
    config = write_config(tmp_path, hot, tmp_path / "none.duckdb")
    for argv in (["summary", "--quick"], ["trend", "cpu"], ["report"]):
        code, out, err = run(capsys, *argv, "-c", str(config))
        assert (code, err) == (0, ""), argv
        assert out


@pytest.mark.parametrize("command", [["summary"], ["trend", "cpu"], ["report"]])
def test_a_store_under_a_file_is_one_line_and_exit_4_not_an_empty_fleet(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    config = write_config(tmp_path, tmp_path / "notes.txt" / "hot.db", tmp_path / "wh.duckdb")
    code, out, err = run(capsys, *command, "-c", str(config))
    assert (code, out) == (4, "")
    assert err.strip().splitlines() == [
        f"nephos: hot store {tmp_path}/notes.txt/hot.db: cannot open: "
        f"{tmp_path}/notes.txt is not a folder"
    ]


def test_trend_describes_the_series_and_draws_a_chart(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "trend", "memory", "--window", "3650d", "-c", str(seeded))
    assert code == 0
    assert out.startswith("TREND\n  • Memory on vm-db-1 is rising")
    assert "vm-db-1 · mem_percent" in out and "┤" in out and "█" in out


def test_trend_json_has_the_fit_and_the_chart_points(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("trend", "disk_percent", "--instance", "vm-db-1", "--window", "3650d", "--json")
    code, out, _ = run(capsys, *argv, "-c", str(seeded))
    document = json.loads(out)
    series = document["facts"]["series"][0]
    assert code == 0 and series["resource"] == "vm-db-1"
    assert series["slope_per_hour"] > 0 and series["r2"] > 0.9
    assert document["facts"]["chart"]


def test_trend_of_a_metric_nobody_reports_says_so(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "trend", "gpu_percent", "-c", str(seeded))
    assert code == 0
    assert "No gpu_percent data in the last 7 days." in out


def test_a_model_narrator_without_a_model_is_a_configuration_error(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "summary", "--narrator", "openai", "-c", str(seeded))
    assert code == 3 and out == ""
    assert err.strip() == "nephos: insights.model: the openai narrator needs a model"
