"""What the sentinel tells its observer (the CLI, the demo, tests): results and alert changes.

Events are emitted after the results they carry were handed to the store, in the order the
results were written. Formatting them for people lives in ``nephos.sentinel.output``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nephos.model import Alert, CheckResult, Health, to_dict

__all__ = ["AlertEvent", "CheckEvent", "EventSink", "SentinelEvent"]


@dataclass(frozen=True, slots=True)
class CheckEvent:
    """One stored check result; ``previous`` is the target's health before it (None: first)."""

    result: CheckResult
    previous: Health | None = None

    @property
    def changed(self) -> bool:
        """Whether this result moved the target to another health (the first one always does)."""
        return self.previous is not self.result.health

    def to_dict(self) -> dict[str, Any]:
        """The JSON-line form: ``{"type": "check", "changed": ..., "result": {...}}``."""
        previous = self.previous.value if self.previous is not None else None
        return {
            "type": "check",
            "changed": self.changed,
            "previous": previous,
            "result": to_dict(self.result),
        }


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert that a result opened, changed or resolved."""

    alert: Alert

    def to_dict(self) -> dict[str, Any]:
        """The JSON-line form: ``{"type": "alert", "alert": {...}}``."""
        return {"type": "alert", "alert": to_dict(self.alert)}


SentinelEvent = CheckEvent | AlertEvent
EventSink = Callable[[SentinelEvent], None]
"""Receives every event; it runs on the event loop, so it must not block."""
