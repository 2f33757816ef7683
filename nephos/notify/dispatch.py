"""The Dispatcher: routes alert events to notifiers by name, in the background, with retries.

``submit`` returns at once; each delivery runs in its own task with up to three attempts and
exponential backoff on the injected clock. Deliveries to one notifier keep their order (a
``resolved`` never overtakes its ``firing``), while a slow or failing notifier never delays
another, nor the check loop. Failures are logged by notifier name and error class only: URLs,
tokens and headers stay out of logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nephos.clock import Clock
from nephos.config.types import NotifierConfig
from nephos.errors import ConfigError, NotifyError
from nephos.model import Alert
from nephos.notify import build_notifier
from nephos.notify.base import Notification, Notifier
from nephos.notify.template import default_text, default_title, render, validate_template

__all__ = ["DispatchStats", "Dispatcher"]

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class DispatchStats:
    """Counters for metrics and tests."""

    delivered: int = 0
    failed: int = 0  # gave up after every attempt
    retried: int = 0
    by_event: dict[str, int] = field(default_factory=dict)  # delivered, per event


@dataclass(slots=True)
class _Route:
    config: NotifierConfig
    notifier: Notifier
    tail: asyncio.Task[None] | None = None  # the newest delivery; the next one waits for it


class Dispatcher:
    """Delivers notifications for the notifiers configured by name."""

    def __init__(
        self,
        notifiers: Mapping[str, NotifierConfig],
        *,
        clock: Clock,
        attempts: int = 3,
        backoff: float = 1.0,
        send_timeout: float = 30.0,
    ) -> None:
        """Build every notifier and check every template now, not at send time.

        Args:
            notifiers: the config's ``notifiers`` section, by name.
            clock: the clock that backoff sleeps on.
            attempts: tries per delivery, at least one.
            backoff: seconds before the second try; doubled before each further one.
            send_timeout: wall-clock seconds one try may take.

        Raises:
            ConfigError: a notifier type is unknown, its options are invalid, or a template
                names an unknown placeholder.
        """
        self._clock = clock
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._send_timeout = send_timeout
        self._routes: dict[str, _Route] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats = DispatchStats()
        for name, cfg in notifiers.items():
            for label, text in (("title_template", cfg.title_template), ("template", cfg.template)):
                if text is not None:
                    try:
                        validate_template(text)
                    except ConfigError as exc:
                        raise ConfigError(exc.message, path=f"notifiers.{name}.{label}") from exc
            self._routes[name] = _Route(cfg, build_notifier(cfg))

    @property
    def names(self) -> list[str]:
        """The configured notifier names."""
        return list(self._routes)

    @property
    def pending(self) -> int:
        """Deliveries not finished yet."""
        return len(self._tasks)

    def submit(self, notification_targets: Sequence[str], alert: Alert, event: str) -> None:
        """Queue one notification per named notifier and return at once.

        Must be called from the running event loop. A name without a configured notifier is
        logged and skipped; a notifier whose ``events`` list leaves out ``event`` is skipped.
        Never raises.

        Args:
            notification_targets: notifier names, as in an alert rule's ``notify``.
            alert: the alert, as stored.
            event: ``firing``, ``resolved``, ``reminder``, ``flapping``, ``acknowledged`` or
                ``certificate``.
        """
        for name in dict.fromkeys(notification_targets):
            route = self._routes.get(name)
            if route is None:
                _log.warning("alert %s: no notifier named %r is configured", alert.id, name)
                continue
            if route.config.events and event not in route.config.events:
                continue
            try:
                notification = self._render(route.config, alert, event)
            except ConfigError as exc:  # only reachable if a template was changed after init
                _log.error("notifier %s: %s", name, exc)
                continue
            task = asyncio.get_running_loop().create_task(
                self._deliver(route, notification, route.tail), name=f"notify-{name}-{alert.id}"
            )
            route.tail = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _render(cfg: NotifierConfig, alert: Alert, event: str) -> Notification:
        title = (
            render(cfg.title_template, alert, event)
            if cfg.title_template is not None
            else default_title(alert, event)
        )
        text = (
            render(cfg.template, alert, event)
            if cfg.template is not None
            else default_text(alert, event)
        )
        return Notification(alert=alert, event=event, title=title, text=text)

    async def _deliver(
        self, route: _Route, notification: Notification, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        name = route.config.name or "?"
        delay = self._backoff
        error = ""
        for attempt in range(1, self._attempts + 1):
            try:
                async with asyncio.timeout(self._send_timeout):
                    await route.notifier.send(notification)
            except NotifyError as exc:
                error = str(exc)
            except TimeoutError:
                error = f"{route.config.type} {name}: timed out"
            except Exception as exc:  # a notifier bug must not kill the loop or leak secrets
                error = f"{route.config.type} {name}: {type(exc).__name__}"
            else:
                self.stats.delivered += 1
                event = notification.event
                self.stats.by_event[event] = self.stats.by_event.get(event, 0) + 1
                return
            if attempt < self._attempts:
                self.stats.retried += 1
                _log.info(
                    "retrying notification %s (attempt %d): %s",
                    notification.alert.id,
                    attempt + 1,
                    error,
                )
                await self._clock.sleep(delay)
                delay *= 2
        self.stats.failed += 1
        _log.warning(
            "gave up on %s notification for alert %s after %d attempts: %s",
            notification.event,
            notification.alert.id,
            self._attempts,
            error,
        )

    async def drain(self, timeout: float) -> bool:
        """Wait for queued deliveries to finish.

        Args:
            timeout: wall-clock seconds to wait at most.

        Returns:
            True when nothing is left pending.
        """
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        return not self._tasks

    async def close(self) -> None:
        """Cancel what is still pending and close every notifier; idempotent. Never raises."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for route in self._routes.values():
            try:
                await route.notifier.close()
            except Exception as exc:  # closing is best effort
                _log.debug("closing notifier %s failed: %s", route.config.name, type(exc).__name__)
