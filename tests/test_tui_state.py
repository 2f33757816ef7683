"""The headless view-model of nephos watch: reducing the stream, totals, filter and sort."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from nephos.model import AlertState, Health, Instance, InstanceState, MetricPoint, Severity
from nephos.tui.cells import age_text, spark_text, state_cell
from nephos.tui.query import FilterError, SortColumn, SortSpec, parse_filter, sort_rows
from nephos.tui.sample import sample_alert, sample_result, sample_snapshot
from nephos.tui.state import FleetState

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _state() -> FleetState:
    state = FleetState(history=5)
    state.apply_snapshot(
        10,
        results=[
            sample_result("api", NOW, provider="aws", region="us-east-1", latency_ms=40),
            sample_result("db", NOW, provider="aws", health=Health.UNHEALTHY, latency_ms=900),
            sample_result("edge", NOW, provider="vultr", region="ams", health=Health.DEGRADED),
            sample_result("cdn", NOW, provider="gcp", region="us-central1", flapping=True),
            sample_result("misc", NOW, provider="other", region=None, health=Health.UNKNOWN),
        ],
        alerts=[sample_alert("al-1", "db", NOW - timedelta(minutes=5))],
    )
    return state


def test_snapshot_gives_one_row_per_target_and_a_reset() -> None:
    state = _state()
    assert sorted(state.rows) == ["api", "cdn", "db", "edge", "misc"]
    assert state.seq == 10
    assert state.take_changes().reset is True
    assert not state.take_changes()


def test_results_append_to_history_up_to_its_length() -> None:
    state = _state()
    for i in range(8):
        state.apply(sample_result("api", NOW + timedelta(seconds=i + 1), latency_ms=i), seq=11 + i)
    row = state.rows["api"]
    assert row.latencies == [3, 4, 5, 6, 7]
    assert state.seq == 18
    assert state.take_changes().targets == {"api"}


def test_a_late_older_result_does_not_replace_the_latest() -> None:
    state = _state()
    state.apply(sample_result("api", NOW - timedelta(minutes=1), health=Health.UNHEALTHY))
    assert state.rows["api"].health is Health.HEALTHY


def test_a_resync_snapshot_keeps_latency_history() -> None:
    state = _state()
    state.apply(sample_result("api", NOW + timedelta(seconds=5), latency_ms=55))
    state.apply_snapshot(20, results=[sample_result("api", NOW + timedelta(seconds=9))])
    assert state.rows["api"].latencies == [40, 55, 42]
    assert list(state.rows) == ["api"]


def test_open_alerts_are_newest_first_and_acknowledged_after_firing() -> None:
    state = _state()
    state.apply(sample_alert("al-2", "edge", NOW - timedelta(minutes=1)))
    state.apply(
        sample_alert("al-3", "api", NOW, state=AlertState.ACKNOWLEDGED, severity=Severity.WARNING)
    )
    assert [a.id for a in state.open_alerts()] == ["al-2", "al-1", "al-3"]


def test_resolving_an_alert_closes_it_and_clears_the_row_flag() -> None:
    state = _state()
    assert state.rows["db"].alerting is True
    resolved = replace(state.alerts["al-1"], state=AlertState.RESOLVED, version=1, updated_at=NOW)
    state.take_changes()
    state.apply(resolved)
    assert state.open_alerts() == []
    assert state.rows["db"].alerting is False
    changes = state.take_changes()
    assert changes.alerts is True
    assert "db" in changes.targets
    assert state.alerts_for("db") == [resolved]


def test_an_older_alert_version_is_ignored() -> None:
    state = _state()
    newer = replace(state.alerts["al-1"], state=AlertState.ACKNOWLEDGED, version=3)
    state.apply(newer)
    state.apply(replace(newer, state=AlertState.FIRING, version=2))
    assert state.alerts["al-1"].state is AlertState.ACKNOWLEDGED


def test_a_row_seen_after_its_alert_is_marked_alerting() -> None:
    state = FleetState()
    state.apply(sample_alert("al-9", "late", NOW))
    state.apply(sample_result("late", NOW))
    assert state.rows["late"].alerting is True


def test_closed_alerts_are_capped_oldest_first() -> None:
    state = FleetState(max_closed_alerts=2)
    for i in range(4):
        alert = sample_alert(f"al-{i}", "api", NOW, state=AlertState.RESOLVED)
        state.apply(replace(alert, updated_at=NOW + timedelta(seconds=i)))
    assert sorted(state.alerts) == ["al-2", "al-3"]


def test_provider_totals_in_card_order_with_health_and_worst() -> None:
    state = _state()
    totals = {p.provider: p for p in state.providers()}
    assert [p.provider for p in state.providers()] == ["aws", "vultr", "gcp", "other"]
    assert (totals["aws"].healthy, totals["aws"].total) == (1, 2)
    assert totals["aws"].health_pct == 50.0
    assert totals["aws"].worst is Health.UNHEALTHY
    assert totals["vultr"].worst is Health.DEGRADED
    assert totals["gcp"].health_pct == 100.0


def test_fleet_totals_count_states_and_alerts() -> None:
    totals = _state().totals()
    assert totals.targets == 5
    assert totals.counts[Health.HEALTHY] == 2
    assert totals.firing == 1


def test_staleness_is_the_age_of_the_latest_result() -> None:
    state = _state()
    row = state.rows["api"]
    assert not state.is_stale(row, NOW + timedelta(minutes=4), timedelta(minutes=5))
    assert state.is_stale(row, NOW + timedelta(minutes=6), timedelta(minutes=5))
    assert row.age(NOW - timedelta(seconds=3)) == timedelta(0)


def test_metrics_and_instances_are_kept_without_touching_rows() -> None:
    state = _state()
    state.take_changes()
    state.apply(Instance(provider="aws", id="i-1", name="web", state=InstanceState.RUNNING))
    state.apply(MetricPoint(instance="i-1", metric="cpu", unit="%", ts=NOW, value=12.5))
    assert state.totals().instances == 1
    assert state.metrics[("i-1", "cpu")].value == 12.5
    changes = state.take_changes()
    assert changes.instances is True
    assert changes.targets == set()


def test_provider_cards_count_instances_and_running_ones() -> None:
    state = _state()
    for i, machine in enumerate([InstanceState.RUNNING, InstanceState.STOPPED]):
        state.apply(Instance(provider="aws", id=f"i-{i}", name=f"web{i}", state=machine))
    state.apply(Instance(provider="azure", id="vm-1", name="db", state=InstanceState.RUNNING))
    state.apply(Instance(provider="aws", id="i-1", name="web1", state=InstanceState.RUNNING))
    totals = {p.provider: p for p in state.providers()}
    assert (totals["aws"].running, totals["aws"].instances) == (2, 2)
    assert (totals["azure"].total, totals["azure"].instances) == (0, 1)  # inventory only
    assert [p.provider for p in state.providers()] == ["aws", "vultr", "gcp", "azure", "other"]


# ---- the filter language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["api", "cdn", "db", "edge", "misc"]),
        ("state:down", ["db"]),
        ("state:down,degraded", ["db", "edge"]),
        ("provider:aws", ["api", "db"]),
        ("provider:AWS !state:down", ["api"]),
        ("state:!ok", ["db", "edge", "misc"]),
        ("region:us", ["api", "cdn", "db"]),
        ("ams", ["edge"]),
        ("is:flapping", ["cdn"]),
        ("is:alerting", ["db"]),
        ("kind:http name:d", ["cdn", "db", "edge"]),
        ('name:"ap"', ["api"]),
        ("state:unknown", ["misc"]),
    ],
)
def test_filter_words_all_hold(text: str, expected: list[str]) -> None:
    state = _state()
    row_filter = parse_filter(text)
    assert sorted(n for n, row in state.rows.items() if row_filter.matches(row)) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("colour:red", "unknown field 'colour'"),
        ("state:sideways", "state:sideways is not one of"),
        ("state:", "has no value"),
        ('name:"open', "filter:"),
    ],
)
def test_bad_filters_say_why(text: str, fragment: str) -> None:
    with pytest.raises(FilterError, match=fragment.replace("(", r"\(")):
        parse_filter(text)


def test_the_empty_filter_is_falsy_and_keeps_its_text() -> None:
    assert not parse_filter("  ")
    assert parse_filter(" state:down ").text == "state:down"


# ---- sorting


def test_state_sorts_worst_first_and_ties_by_name() -> None:
    rows = sort_rows(_state().rows.values(), SortSpec(SortColumn.STATE))
    assert [r.name for r in rows] == ["db", "edge", "misc", "api", "cdn"]


def test_sorting_again_by_the_same_column_reverses_it() -> None:
    spec = SortSpec(SortColumn.NAME)
    assert spec.toggled(SortColumn.NAME) == SortSpec(SortColumn.NAME, reverse=True)
    assert spec.toggled(SortColumn.LATENCY) == SortSpec(SortColumn.LATENCY)
    rows = sort_rows(_state().rows.values(), SortSpec(SortColumn.NAME, reverse=True))
    assert [r.name for r in rows] == ["misc", "edge", "db", "cdn", "api"]


def test_latency_sorts_slowest_first_and_provider_in_card_order() -> None:
    rows = _state().rows.values()
    assert sort_rows(rows, SortSpec(SortColumn.LATENCY))[0].name == "db"
    assert [r.provider for r in sort_rows(rows, SortSpec(SortColumn.PROVIDER))] == [
        "aws",
        "aws",
        "vultr",
        "gcp",
        "other",
    ]


# ---- cells


def test_every_state_reads_as_a_glyph_and_a_word() -> None:
    assert [state_cell(h).plain for h in Health] == ["● ok", "▲ degraded", "✕ down", "? unknown"]


def test_ages_and_sparklines_read_short() -> None:
    assert [age_text(timedelta(seconds=s)) for s in (4, 125, 7200, 200000)] == [
        "4s",
        "2m",
        "2h",
        "2d",
    ]
    assert spark_text([1, 2, 3, 8]) == "▁▂▃█"
    assert spark_text([5, 5]) == "▁▁"
    assert spark_text([]) == ""


def test_the_sample_fleet_is_deterministic() -> None:
    assert sample_snapshot(50, NOW) == sample_snapshot(50, NOW)
    assert len(sample_snapshot(50, NOW).alerts) == 1


def test_the_view_model_imports_no_ui_library() -> None:
    code = (
        "import sys, nephos.tui.state, nephos.tui.query, nephos.tui.sample;"
        "print(sorted(m for m in ('textual', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_provider_tallies_follow_health_and_provider_changes() -> None:
    state = _state()
    state.apply(sample_result("db", NOW + timedelta(seconds=1), provider="aws"))
    state.apply(sample_result("api", NOW + timedelta(seconds=1), provider="gcp"))
    totals = {p.provider: p for p in state.providers()}
    assert (totals["aws"].healthy, totals["aws"].total) == (1, 1)
    assert (totals["gcp"].healthy, totals["gcp"].total) == (2, 2)
    assert state.totals().counts == {Health.HEALTHY: 3, Health.DEGRADED: 1, Health.UNKNOWN: 1}
