"""The ``slack`` notifier: a Slack incoming webhook with fallback text and Block Kit blocks.

Options: ``webhook_url`` (required; it is a secret and appears in no message), ``timeout``
(seconds, default 10). Text from monitored systems is escaped for Slack's mrkdwn, so that a
response body cannot ping ``<!channel>`` or forge links.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any, ClassVar

import httpx

from nephos.errors import ConfigError
from nephos.model import Alert
from nephos.notify.base import Notification, Notifier
from nephos.notify.webhook import post_json, timeout_option

__all__ = ["SlackNotifier", "escape_mrkdwn", "slack_payload"]

_EMOJI = {
    "firing": ":red_circle:",
    "resolved": ":large_green_circle:",
    "reminder": ":bell:",
    "flapping": ":warning:",
    "acknowledged": ":eyes:",
    "certificate": ":lock:",
}
_MAX_SECTION = 2900  # Slack rejects section text over 3000 characters


def escape_mrkdwn(text: str) -> str:
    """``text`` with the three characters Slack treats as control escaped.

    Args:
        text: untrusted text.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _since(alert: Alert) -> str:
    return alert.started_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def slack_payload(notification: Notification) -> dict[str, Any]:
    """The webhook body for ``notification``: fallback ``text`` plus ``blocks``.

    Args:
        notification: the rendered notification.
    """
    alert = notification.alert
    emoji = _EMOJI.get(notification.event, ":information_source:")
    title = escape_mrkdwn(notification.title)
    text = escape_mrkdwn(notification.text)[:_MAX_SECTION]
    fields = [
        {"type": "mrkdwn", "text": f"*Target*\n{escape_mrkdwn(alert.target)}"},
        {"type": "mrkdwn", "text": f"*State*\n{alert.state.value}"},
        {"type": "mrkdwn", "text": f"*Severity*\n{alert.severity.value}"},
        {"type": "mrkdwn", "text": f"*Since*\n{_since(alert)}"},
    ]
    if alert.condition:
        fields.append(
            {"type": "mrkdwn", "text": f"*Condition*\n`{escape_mrkdwn(alert.condition)}`"}
        )
    if alert.value:
        fields.append({"type": "mrkdwn", "text": f"*Value*\n{escape_mrkdwn(alert.value)}"})
    return {
        "text": f"{emoji} {title}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{title}*\n{text}"}},
            {"type": "section", "fields": fields[:10]},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"alert `{alert.id}` · {notification.event}"}
                ],
            },
        ],
    }


class SlackNotifier(Notifier):
    """Posts to a Slack incoming webhook."""

    type: ClassVar[str] = "slack"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        """Read the options.

        Raises:
            ConfigError: ``webhook_url`` is missing or not http(s), or ``timeout`` is bad.
        """
        super().__init__(name, options)
        url = options.get("webhook_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(
                "webhook_url must be an http(s) URL", path=f"notifiers.{name}.webhook_url"
            )
        self.webhook_url = url
        self.timeout = timeout_option(name, options)
        self._client: httpx.AsyncClient | None = None

    async def send(self, notification: Notification) -> None:
        """Post the notification.

        Raises:
            NotifyError: the request failed or Slack did not answer 2xx.
        """
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        payload = slack_payload(notification)
        await post_json(self._client, f"slack {self.name}", self.webhook_url, payload, {})

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
