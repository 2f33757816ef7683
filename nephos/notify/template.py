"""Notification templates: the placeholders, their validation and their rendering.

A template is ``str.format`` text restricted to named placeholders from :data:`PLACEHOLDERS`
(no attribute or index access, no positional fields), so that a typo is reported when the
config loads instead of when an incident happens.
"""

from __future__ import annotations

import string
from datetime import UTC

from nephos.errors import ConfigError
from nephos.model import Alert

__all__ = ["PLACEHOLDERS", "default_text", "default_title", "render", "validate_template"]

PLACEHOLDERS = frozenset(
    {
        "target",
        "state",
        "condition",
        "value",
        "since",
        "alert_id",
        "severity",
        "message",
        "title",
        "event",
    }
)


def validate_template(text: str) -> None:
    """Check that ``text`` only uses known placeholders.

    Args:
        text: the template, e.g. ``"{target} is {state}: {message}"``; ``{{`` and ``}}`` are
            literal braces.

    Raises:
        ConfigError: the template is malformed or names an unknown placeholder.
    """
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ConfigError(f"template {text!r} is malformed: {exc}") from exc
    fields = [f for _, f, _, _ in parsed if f is not None]
    for _, _, spec, _ in parsed:
        if spec and "{" in spec:
            validate_template(spec)  # nested fields in a format spec, e.g. {target:>{width}}
    known = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
    for field_name in fields:
        if field_name not in PLACEHOLDERS:
            shown = "{" + field_name + "}" if field_name else "{}"
            raise ConfigError(f"unknown placeholder {shown} in template (known: {known})")


def _values(alert: Alert, event: str) -> dict[str, str]:
    return {
        "target": alert.target,
        "state": alert.state.value,
        "condition": alert.condition or "",
        "value": alert.value or "",
        "since": alert.started_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "alert_id": alert.id,
        "severity": alert.severity.value,
        "message": alert.message,
        "title": alert.title,
        "event": event,
    }


def render(template: str, alert: Alert, event: str) -> str:
    """``template`` with its placeholders filled from ``alert``.

    Args:
        template: a template that passed :func:`validate_template`.
        alert: the alert being notified.
        event: what happened (``firing``, ``resolved``, ...).

    Raises:
        ConfigError: the template was not validated and is invalid.
    """
    try:
        return template.format_map(_values(alert, event))
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"template {template!r} cannot be rendered: {exc}") from exc


def default_title(alert: Alert, event: str) -> str:
    """The title used when a notifier has no ``title_template``.

    Args:
        alert: the alert being notified.
        event: what happened.
    """
    return f"[{event.upper()}] {alert.title}"


def default_text(alert: Alert, event: str) -> str:
    """The text used when a notifier has no ``template``.

    Args:
        alert: the alert being notified.
        event: what happened.
    """
    return f"{alert.message} (alert {alert.id}, {alert.severity.value})"
