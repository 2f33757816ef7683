"""Recurring maintenance windows: is a given instant inside one?

A window starts at a local wall-clock time (``HH:MM`` in an IANA timezone) on the listed
weekdays and lasts ``duration`` of real elapsed time, so a window may cross midnight and a
two-hour window stays two hours long across a daylight-saving change. Validating timezone
names is the config loader's job; here a bad window never raises.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nephos.model import MaintenanceWindow

__all__ = ["in_maintenance", "window_containing"]

_log = logging.getLogger(__name__)
# Windows longer than this are treated as this long, so a typo cannot make the scan unbounded.
_MAX_LOOKBACK_DAYS = 366


# Cached so that a bad name warns once, not once per check result.
@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        # The loader rejects unknown zones; should one slip through, UTC is the least
        # surprising reading of the window rather than a crash in the check loop.
        _log.warning("maintenance window timezone %r is unknown; reading it as UTC", name)
        return UTC


@functools.lru_cache(maxsize=64)
def _start_time(text: str) -> time | None:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        _log.warning("maintenance window start %r is not HH:MM; ignoring the window", text)
        return None


def window_containing(window: MaintenanceWindow, now: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence of ``window`` that contains ``now``, as UTC (start, end), or None.

    Args:
        window: the recurring window.
        now: an aware instant.
    """
    start_time = _start_time(window.start)
    if start_time is None or window.duration <= timedelta(0):
        return None
    zone = _zone(window.timezone)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    today = now.astimezone(zone).date()
    lookback = min(window.duration.days + 1, _MAX_LOOKBACK_DAYS)
    for back in range(lookback + 1):
        day: date = today - timedelta(days=back)
        if window.weekdays and day.weekday() not in window.weekdays:
            continue
        # A start inside a spring-forward gap resolves with the pre-transition offset (fold=0),
        # i.e. it happens one hour "later" on the wall clock; a start inside the autumn overlap
        # takes its first occurrence. Either way the start is one well-defined instant.
        local_start = datetime.combine(day, start_time, tzinfo=zone)
        start = local_start.astimezone(UTC)
        end = start + window.duration
        if start <= now < end:
            return start, end
    return None


def in_maintenance(windows: Sequence[MaintenanceWindow], now: datetime) -> bool:
    """Whether ``now`` falls inside any of ``windows``.

    Args:
        windows: recurring windows, global or per target.
        now: an aware instant (naive values are read as UTC).

    Returns:
        True when some window covers ``now``. A window with an unreadable start is ignored;
        one with an unknown timezone is read as UTC. Never raises.
    """
    return any(window_containing(w, now) is not None for w in windows)
