"""The ``email`` notifier: a message over SMTP (smtplib, in a thread), with STARTTLS or TLS.

Options: ``host`` (required), ``port`` (default 587 with STARTTLS, 465 with ``ssl``, else 25),
``sender`` and ``to`` (required; ``to`` is one address or a list), ``username`` and
``password`` (the password is a secret: never logged or shown), ``starttls`` (default true
unless ``ssl``), ``ssl``, ``timeout`` (seconds, default 10). A report notification that
carries ``report_html`` in its alert's facts is sent with that HTML as an alternative part.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl as ssl_module
from email.message import EmailMessage
from typing import Any, ClassVar

from nephos.errors import ConfigError, NotifyError
from nephos.notify.base import Notification, Notifier
from nephos.notify.webhook import timeout_option

__all__ = ["EmailNotifier", "build_message"]


def build_message(notification: Notification, sender: str, to: list[str]) -> EmailMessage:
    """The email for ``notification``: its title as the subject, its text as the body."""
    message = EmailMessage()
    # Header values from monitored systems must not inject further headers.
    message["Subject"] = " ".join(notification.title.split())[:200]
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(notification.text)
    report_html = notification.alert.facts.get("report_html")
    if isinstance(report_html, str):
        message.add_alternative(report_html, subtype="html")
    return message


class EmailNotifier(Notifier):
    """Sends notifications by email through one SMTP server."""

    type: ClassVar[str] = "email"

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        """Read the options.

        Raises:
            ConfigError: ``host``, ``sender`` or ``to`` is missing, or a value is malformed.
        """
        super().__init__(name, options)
        host, sender, to = options.get("host"), options.get("sender"), options.get("to")
        if not isinstance(host, str) or not host:
            raise ConfigError("host is required", path=f"notifiers.{name}.host")
        if not isinstance(sender, str) or "@" not in sender:
            raise ConfigError("sender must be an email address", path=f"notifiers.{name}.sender")
        recipients = [to] if isinstance(to, str) else list(to or [])
        if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
            raise ConfigError("to must be one or more addresses", path=f"notifiers.{name}.to")
        self.host = host
        self.sender = sender
        self.to = [str(r) for r in recipients]
        self.use_ssl = bool(options.get("ssl", False))
        self.starttls = bool(options.get("starttls", not self.use_ssl))
        default_port = 465 if self.use_ssl else (587 if self.starttls else 25)
        try:
            self.port = int(options.get("port", default_port))
        except (TypeError, ValueError) as exc:
            raise ConfigError("port must be a number", path=f"notifiers.{name}.port") from exc
        self.username = options.get("username")
        self._password = options.get("password")
        self.timeout = timeout_option(name, options)

    def _send(self, message: EmailMessage) -> None:
        context = ssl_module.create_default_context()
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=context)
            if self.username and self._password:
                smtp.login(str(self.username), str(self._password))
            smtp.send_message(message)

    async def send(self, notification: Notification) -> None:
        """Send one email.

        Raises:
            NotifyError: the server could not be reached, refused the login or the message.
        """
        message = build_message(notification, self.sender, self.to)
        label = f"email {self.name}"
        try:
            await asyncio.to_thread(self._send, message)
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"{label}: the server refused the login (check username)") from exc
        except smtplib.SMTPException as exc:
            raise NotifyError(f"{label}: {type(exc).__name__}") from exc
        except (OSError, TimeoutError) as exc:
            raise NotifyError(f"{label}: cannot reach {self.host}:{self.port}") from exc
