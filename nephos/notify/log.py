"""The ``log`` notifier: notifications as log records and, optionally, as stdout lines.

Options: ``stdout`` (bool, default false) also prints one line per notification;
``level`` (``info``, ``warning`` or ``error``; default ``warning``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, ClassVar

from nephos.errors import ConfigError
from nephos.notify.base import Notification, Notifier

__all__ = ["LogNotifier"]

_log = logging.getLogger("nephos.notify.log")
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class LogNotifier(Notifier):
    """Writes each notification to the ``nephos.notify.log`` logger."""

    type: ClassVar[str] = "log"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        """Read the options.

        Raises:
            ConfigError: ``level`` is not one of info, warning, error.
        """
        super().__init__(name, options)
        level = str(options.get("level", "warning")).lower()
        if level not in _LEVELS:
            raise ConfigError(
                f"level {level!r} is not one of {', '.join(_LEVELS)}", path=f"notifiers.{name}"
            )
        self.level = _LEVELS[level]
        self.stdout = bool(options.get("stdout", False))

    async def send(self, notification: Notification) -> None:
        """Log the notification (and print it when ``stdout`` is set); never fails."""
        alert = notification.alert
        _log.log(
            self.level,
            "%s %s: %s",
            notification.event,
            alert.id,
            notification.title,
            extra={"alert_id": alert.id, "target": alert.target, "event": notification.event},
        )
        if self.stdout:
            # Newlines from monitored systems would forge extra lines; keep one line each.
            line = f"{notification.title} - {notification.text}".replace("\n", " ")
            print(line, file=sys.stdout, flush=True)
