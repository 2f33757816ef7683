"""The ``webhook`` notifier: a JSON POST of the notification and the whole alert.

Options: ``url`` (required), ``headers`` (mapping, e.g. an Authorization header),
``timeout`` (seconds, default 10). The body is ``{"event", "title", "text", "alert"}`` with
the alert as :func:`nephos.model.to_dict` renders it. The URL and headers may carry secrets,
so no error message here ever includes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from nephos.errors import ConfigError, NotifyError
from nephos.model import to_dict
from nephos.notify.base import Notification, Notifier

__all__ = ["WebhookNotifier", "post_json", "timeout_option"]


def timeout_option(name: str, options: Mapping[str, Any]) -> float:
    """The ``timeout`` option of notifier ``name`` in seconds (default 10).

    Raises:
        ConfigError: it is not a positive number.
    """
    try:
        value = float(options.get("timeout", 10.0))
    except (TypeError, ValueError) as exc:
        raise ConfigError("timeout must be a number of seconds", path=f"notifiers.{name}") from exc
    if value <= 0:
        raise ConfigError("timeout must be positive", path=f"notifiers.{name}")
    return value


async def post_json(
    client: httpx.AsyncClient,
    label: str,
    url: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
) -> None:
    """POST ``body`` as JSON and require a 2xx answer.

    Args:
        client: the HTTP client to use.
        label: how errors name the notifier, e.g. ``webhook ops``; never the URL.
        url: the destination (kept out of every message).
        body: the JSON body.
        headers: extra request headers.

    Raises:
        NotifyError: the request failed or the answer was not 2xx.
    """
    try:
        response = await client.post(url, json=dict(body), headers=dict(headers))
    except httpx.TimeoutException as exc:
        raise NotifyError(f"{label}: timed out") from exc
    except httpx.HTTPError as exc:
        # str(exc) of httpx errors can contain the URL; the class name says enough.
        raise NotifyError(f"{label}: {type(exc).__name__}") from exc
    if not 200 <= response.status_code < 300:
        raise NotifyError(f"{label}: HTTP {response.status_code}")


class WebhookNotifier(Notifier):
    """POSTs JSON to a URL."""

    type: ClassVar[str] = "webhook"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        """Read the options.

        Raises:
            ConfigError: ``url`` is missing or not http(s), or ``headers``/``timeout`` are
                malformed.
        """
        super().__init__(name, options)
        url = options.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError("url must be an http(s) URL", path=f"notifiers.{name}.url")
        headers = options.get("headers", {})
        if not isinstance(headers, Mapping):
            raise ConfigError("headers must be a mapping", path=f"notifiers.{name}.headers")
        self.url = url
        self.headers = {str(k): str(v) for k, v in headers.items()}
        self.timeout = timeout_option(name, options)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def send(self, notification: Notification) -> None:
        """POST the notification.

        Raises:
            NotifyError: the request failed or the answer was not 2xx.
        """
        body = {
            "event": notification.event,
            "title": notification.title,
            "text": notification.text,
            "alert": to_dict(notification.alert),
        }
        await post_json(self._http(), f"webhook {self.name}", self.url, body, self.headers)

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
