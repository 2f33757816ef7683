"""Maintenance windows, flap detection and alert ids: the alert book's building blocks."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nephos.model import Health, MaintenanceWindow
from nephos.sentinel.flapping import FlapDetector, state_change_ratio
from nephos.sentinel.ids import ALERT_ID_ALPHABET, allocate_alert_id, new_alert_id
from nephos.sentinel.maintenance import in_maintenance, window_containing
from nephos.store.sqlite import SqliteHotStore


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_window_covers_its_start_but_not_its_end() -> None:
    window = MaintenanceWindow(start="02:00", duration=timedelta(hours=1))
    assert not in_maintenance([window], utc(2026, 3, 2, 1, 59))
    assert in_maintenance([window], utc(2026, 3, 2, 2, 0))
    assert in_maintenance([window], utc(2026, 3, 2, 2, 59))
    assert not in_maintenance([window], utc(2026, 3, 2, 3, 0))


def test_a_window_crossing_midnight_belongs_to_the_weekday_it_starts_on() -> None:
    friday_night = MaintenanceWindow(start="23:00", duration=timedelta(hours=3), weekdays=(4,))
    assert in_maintenance([friday_night], utc(2026, 3, 7, 1, 30))  # Saturday 01:30
    assert not in_maintenance([friday_night], utc(2026, 3, 8, 1, 30))  # Sunday 01:30
    assert not in_maintenance([friday_night], utc(2026, 3, 5, 23, 30))  # Thursday 23:30


def test_a_window_starts_at_local_time_in_its_timezone_across_dst() -> None:
    window = MaintenanceWindow(
        start="09:00", duration=timedelta(hours=1), timezone="America/New_York"
    )
    assert in_maintenance([window], utc(2026, 3, 6, 14, 30))  # EST: 09:30 local
    assert not in_maintenance([window], utc(2026, 3, 9, 14, 30))  # EDT: 10:30 local
    assert in_maintenance([window], utc(2026, 3, 9, 13, 30))  # EDT: 09:30 local


def test_a_window_lasts_its_real_duration_through_a_dst_change() -> None:
    # 01:00 local on the spring-forward night plus 2 h of real time ends at 04:00 local.
    window = MaintenanceWindow(start="01:00", duration=timedelta(hours=2), timezone="Europe/Berlin")
    start, end = window_containing(window, utc(2026, 3, 29, 0, 30)) or (None, None)
    assert start == utc(2026, 3, 29, 0, 0) and end == utc(2026, 3, 29, 2, 0)


def test_a_start_inside_the_spring_forward_gap_is_still_one_instant() -> None:
    window = MaintenanceWindow(
        start="02:30", duration=timedelta(minutes=30), timezone="Europe/Berlin"
    )
    found = window_containing(window, utc(2026, 3, 29, 1, 45))
    assert found is not None and found[1] - found[0] == timedelta(minutes=30)


def test_a_multi_day_window_is_found_days_after_it_started() -> None:
    window = MaintenanceWindow(start="00:00", duration=timedelta(days=3), weekdays=(0,))
    assert in_maintenance([window], utc(2026, 3, 4, 12, 0))  # Wednesday, started Monday
    assert not in_maintenance([window], utc(2026, 3, 5, 12, 0))


@pytest.mark.parametrize(
    "window",
    [
        MaintenanceWindow(start="12:00", duration=timedelta(hours=1), timezone="Mars/Olympus"),
        MaintenanceWindow(start="noon", duration=timedelta(hours=1)),
        MaintenanceWindow(start="25:99", duration=timedelta(hours=1)),
        MaintenanceWindow(start="12:00", duration=timedelta(0)),
    ],
)
def test_a_bad_window_never_raises(window: MaintenanceWindow) -> None:
    in_maintenance([window], utc(2026, 3, 2, 12, 30))


def test_an_unknown_timezone_is_read_as_utc() -> None:
    window = MaintenanceWindow(start="12:00", duration=timedelta(hours=1), timezone="Mars/Olympus")
    assert in_maintenance([window], utc(2026, 3, 2, 12, 30))


def test_state_change_ratio_weighs_recent_changes_more() -> None:
    assert state_change_ratio(["ok"] * 10) == 0.0
    assert state_change_ratio(["ok", "bad"] * 5) == pytest.approx(1.0)
    early = state_change_ratio(["bad"] + ["ok"] * 9)
    late = state_change_ratio(["ok"] * 9 + ["bad"])
    assert early < late


def test_flapping_needs_a_full_window_and_has_hysteresis() -> None:
    detector = FlapDetector(window=10, high=0.5)
    verdicts = [detector.record(h) for h in [Health.HEALTHY, Health.UNHEALTHY] * 4]
    assert not any(v.flapping for v in verdicts)  # only 8 states so far
    verdicts = [detector.record(h) for h in [Health.HEALTHY, Health.UNHEALTHY]]
    assert [v.started for v in verdicts] == [False, True]
    # Steadying: the ratio drops below 0.5 quickly, but flapping holds until it is under 0.25.
    steady = [detector.record(Health.HEALTHY) for _ in range(10)]
    stops = [i for i, v in enumerate(steady) if v.stopped]
    assert len(stops) == 1 and stops[0] >= 3
    assert all(v.flapping for v in steady[: stops[0]])


def test_flap_history_survives_a_round_trip() -> None:
    first = FlapDetector(window=5, high=0.5)
    for h in [Health.HEALTHY, Health.UNHEALTHY] * 3:
        first.record(h)
    second = FlapDetector(window=5, high=0.5)
    second.restore(first.to_state())
    assert second.flapping and list(second.history) == list(first.history)
    second.restore({"history": "garbage"})  # never raises on unreadable state


def test_alert_ids_are_short_readable_and_repeatable_with_a_seed() -> None:
    first = new_alert_id(random.Random(3))
    assert first == new_alert_id(random.Random(3))
    assert first.startswith("al-") and len(first) == 9
    assert set(first[3:]) <= set(ALERT_ID_ALPHABET)
    assert not set("01ilo") & set(ALERT_ID_ALPHABET)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteHotStore]:
    hot = SqliteHotStore(str(tmp_path / "hot.db"))
    await hot.open()
    yield hot
    await hot.close()


async def test_allocated_ids_skip_ids_already_in_the_store(store: SqliteHotStore) -> None:
    from nephos.model import Alert, AlertSource, AlertState, Severity

    taken = new_alert_id(random.Random(11))
    now = utc(2026, 1, 1)
    await store.put_alert(
        Alert(
            taken,
            "k",
            "t",
            AlertSource.SENTINEL,
            AlertState.FIRING,
            Severity.INFO,
            "t",
            "m",
            now,
            now,
        )
    )
    assert await allocate_alert_id(store, random.Random(11)) != taken
