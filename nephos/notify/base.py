"""The Notifier base class and the Notification it delivers.

Notifiers: ``log`` (stdout/logging), ``webhook`` (generic JSON), ``slack`` (incoming webhook)
and ``sns`` (boto3). The dispatcher (``nephos.notify.dispatch``) routes alerts by notifier
name, renders message templates, retries with backoff and never lets a failure reach the
sentinel's check loop.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

from nephos.model import Alert

__all__ = ["Notification", "Notifier"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message about one alert.

    ``event`` is what happened: ``firing``, ``resolved``, ``reminder``, ``flapping``,
    ``acknowledged`` or ``certificate``; or ``report`` for a report sent on (its alert has
    source ``report``). ``title`` and ``text`` are already rendered.
    """

    alert: Alert
    event: str
    title: str
    text: str


class Notifier(abc.ABC):
    """Delivers notifications to one configured destination."""

    type: ClassVar[str]
    """The ``type`` key in the config's ``notifiers`` section."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.options = options

    @abc.abstractmethod
    async def send(self, notification: Notification) -> None:
        """Deliver once.

        Raises:
            NotifyError: delivery failed; the dispatcher retries.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""
