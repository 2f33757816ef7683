"""Readers shared by the sentinel section and by each target: latency tiers, alert rules and
maintenance windows. Target-specific keys live in ``targets.py``.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection
from datetime import timedelta

from nephos.config.section import Section
from nephos.config.values import closest, format_duration, show
from nephos.config.yamlnodes import Node
from nephos.errors import ConfigError
from nephos.model import AlertRule, LatencyThresholds, MaintenanceWindow, Severity

__all__ = ["read_alert_rules", "read_latency", "read_maintenance"]

ALERT_KEYS = frozenset(
    {
        "notify",
        "failure_threshold",
        "success_threshold",
        "send_on_resolved",
        "reminder_interval",
        "severity",
        "on_degraded",
        "description",
    }
)
ALERT_ALIASES = {"minimum_reminder_interval": "reminder_interval"}  # Gatus spelling
MAINTENANCE_KEYS = frozenset({"start", "duration", "weekdays", "timezone"})
MAINTENANCE_ALIASES = {"every": "weekdays", "days": "weekdays", "tz": "timezone"}
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_GROUPS = {
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
    "weekend": (5, 6),
    "daily": (),
    "everyday": (),
}
_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def read_latency(
    parent: Section, base: LatencyThresholds, *, inherited_from: str | None = None
) -> LatencyThresholds:
    """The ``latency`` mapping of ``parent``, each tier defaulting to ``base``.

    Args:
        parent: the section holding ``latency``.
        base: the tiers to inherit.
        inherited_from: where ``base`` comes from, named in errors (``sentinel.latency``).

    Raises:
        ConfigError: a tier is not a duration with a unit, or degraded is not below unhealthy.
    """
    section = parent.section("latency", {"degraded", "unhealthy"})
    if section is None:
        return base
    degraded = section.duration("degraded", base.degraded, allow_number=False)
    unhealthy = section.duration("unhealthy", base.unhealthy, allow_number=False)
    if degraded >= unhealthy:

        def tier(key: str, value: timedelta) -> str:
            origin = "" if section.has(key) or not inherited_from else f", from {inherited_from}"
            return f"{key} ({format_duration(value)}{origin})"

        blame = "degraded" if section.has("degraded") else "unhealthy"
        raise ConfigError(
            f"{tier('degraded', degraded)} must be below {tier('unhealthy', unhealthy)}",
            file=section.file,
            line=section.line_of(blame),
            path=section.path,
        )
    return LatencyThresholds(degraded=degraded, unhealthy=unhealthy)


def read_alert_rules(
    parent: Section, key: str, notifiers: Collection[str]
) -> tuple[AlertRule, ...] | None:
    """The list of alert rules at ``key``, or None when the key is absent.

    Args:
        parent: the section holding the list.
        key: ``alerts``.
        notifiers: the names defined under ``notifiers``; ``notify`` may only name these.

    Raises:
        ConfigError: a rule has an unknown key, a bad value, or names an unknown notifier.
    """
    if not parent.has(key):
        return None
    rules = []
    for path, node in parent.nodes(key):
        rule = Section(node, path, parent.file, ALERT_KEYS, aliases=ALERT_ALIASES)
        notify = rule.texts("notify")
        for (item, item_node), name in zip(rule.nodes("notify"), notify, strict=True):
            if name not in notifiers:
                raise ConfigError(
                    _unknown_notifier(name, notifiers),
                    file=parent.file,
                    line=item_node.line,
                    path=item,
                )
        severity = rule.text("severity", choices=[s.value for s in Severity]) or "critical"
        rules.append(
            AlertRule(
                notify=notify,
                failure_threshold=rule.integer("failure_threshold", 3, minimum=1, maximum=10_000),
                success_threshold=rule.integer("success_threshold", 2, minimum=1, maximum=10_000),
                send_on_resolved=rule.boolean("send_on_resolved", True),
                reminder_interval=rule.duration(
                    "reminder_interval", timedelta(0), minimum=timedelta(minutes=1)
                )
                or None,
                severity=Severity(severity),
                on_degraded=rule.boolean("on_degraded", False),
                description=rule.text("description"),
            )
        )
    return tuple(rules)


def _unknown_notifier(name: str, notifiers: Collection[str]) -> str:
    if not notifiers:
        return (
            f"unknown notifier {show(name)} (no notifiers are configured; add one under notifiers)"
        )
    hint = closest(name, notifiers)
    near = f"did you mean {hint}? " if hint else ""
    return f"unknown notifier {show(name)} ({near}known: {', '.join(sorted(notifiers))})"


def read_maintenance(parent: Section, key: str) -> tuple[MaintenanceWindow, ...]:
    """The list of maintenance windows at ``key``.

    Raises:
        ConfigError: a window has a bad start time, duration, weekday or time zone.
    """
    windows = []
    for path, node in parent.nodes(key):
        window = Section(node, path, parent.file, MAINTENANCE_KEYS, aliases=MAINTENANCE_ALIASES)
        start = window.convert("start", _time_of_day, None)
        if start is None:
            raise window.error(None, "missing required key start (HH:MM)")
        duration = window.duration("duration", timedelta(0), minimum=timedelta(minutes=1))
        if not window.has("duration"):
            raise window.error(None, "missing required key duration (e.g. 2h)")
        if duration > timedelta(days=7):
            raise window.error("duration", "a window recurs at least weekly, so at most 7d")
        zone = window.convert("timezone", _zone_name, "UTC")
        windows.append(
            MaintenanceWindow(
                start=start,
                duration=duration,
                weekdays=_weekdays(window),
                timezone=zone,
            )
        )
    return tuple(windows)


def _time_of_day(value: object) -> str:
    match = _TIME_OF_DAY.fullmatch(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{show(value)} is not a time of day (write HH:MM, e.g. 02:30)")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _zone_name(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"expected a time zone name like Europe/Paris, got {show(value)}")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        hint = closest(value, zoneinfo.available_timezones())
        near = f" (did you mean {hint}?)" if hint else " (use an IANA name like Europe/Paris)"
        raise ConfigError(f"{show(value)} is not a time zone{near}") from None
    return value


def _weekdays(window: Section) -> tuple[int, ...]:
    days: set[int] = set()
    for path, node in window.nodes("weekdays"):
        try:
            days.update(_day_spec(node))
        except ConfigError as exc:
            raise ConfigError(exc.message, file=window.file, line=node.line, path=path) from exc
    return tuple(sorted(days)) if len(days) < 7 else ()


def _day_spec(node: Node) -> tuple[int, ...]:
    """A weekday name (``mon``, ``Monday``), a range (``mon-fri``) or a group (``weekends``)."""
    value = node.value
    if not isinstance(value, str):
        raise ConfigError(f"{show(value)} is not a weekday (write mon..sun)")
    text = value.strip().lower()
    if text in _DAY_GROUPS:
        return _DAY_GROUPS[text] or tuple(range(7))
    if "-" in text:
        first, _, last = text.partition("-")
        start, end = _day(first, value), _day(last, value)
        return tuple((start + i) % 7 for i in range((end - start) % 7 + 1))
    return (_day(text, value),)


def _day(text: str, original: str) -> int:
    word = text.strip()
    for index, name in enumerate(_DAY_NAMES):
        if len(word) >= 3 and name.startswith(word):
            return index
    raise ConfigError(f"{show(original)} is not a weekday (write mon..sun, or a range mon-fri)")
