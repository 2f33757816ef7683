"""Notifiers and their registry: ``build_notifier`` turns a NotifierConfig into a Notifier.

Each notifier type lives in its own module, imported only when a config names it, so that
boto3 is not loaded by a setup that only uses Slack.
"""

from __future__ import annotations

import importlib

from nephos.config.types import NotifierConfig
from nephos.errors import ConfigError
from nephos.notify.base import Notification, Notifier

__all__ = ["NOTIFIER_TYPES", "Notification", "Notifier", "build_notifier"]

NOTIFIER_TYPES: dict[str, tuple[str, str]] = {
    "log": ("nephos.notify.log", "LogNotifier"),
    "webhook": ("nephos.notify.webhook", "WebhookNotifier"),
    "slack": ("nephos.notify.slack", "SlackNotifier"),
    "sns": ("nephos.notify.sns", "SnsNotifier"),
    "email": ("nephos.notify.email", "EmailNotifier"),
}
"""Notifier type name -> (module, class)."""


def build_notifier(cfg: NotifierConfig) -> Notifier:
    """The notifier that ``cfg`` describes, with its options checked.

    Args:
        cfg: one entry of the config's ``notifiers`` section.

    Raises:
        ConfigError: the type is unknown or the options are invalid.
    """
    entry = NOTIFIER_TYPES.get(cfg.type)
    if entry is None:
        known = ", ".join(sorted(NOTIFIER_TYPES))
        raise ConfigError(
            f"unknown notifier type {cfg.type!r} (known: {known})",
            path=f"notifiers.{cfg.name}.type",
        )
    module_name, class_name = entry
    cls: type[Notifier] = getattr(importlib.import_module(module_name), class_name)
    return cls(cfg.name, dict(cfg.options))
