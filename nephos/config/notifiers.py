"""The ``notifiers`` section: each named notifier, its type's options, events and templates.

Options are checked here for shape (required keys, URLs, ARNs); each notifier class still
reads its own options when it is built. Secrets (webhook URLs) never appear in messages.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from typing import Any

from nephos.config.section import Section, key_path
from nephos.config.types import NotifierConfig
from nephos.config.values import closest, parse_duration, show
from nephos.config.yamlnodes import Node
from nephos.errors import ConfigError

__all__ = ["EVENTS", "NOTIFIER_OPTIONS", "read_notifiers", "template_placeholders"]

NOTIFIER_OPTIONS: dict[str, frozenset[str]] = {
    "log": frozenset({"level", "stdout"}),
    "webhook": frozenset({"url", "headers", "timeout"}),
    "slack": frozenset({"webhook_url", "url", "timeout"}),  # url: another name for webhook_url
    "sns": frozenset({"topic_arn", "region", "endpoint_url"}),
    "email": frozenset(
        {"host", "port", "sender", "to", "username", "password", "starttls", "ssl", "timeout"}
    ),
}
"""The options each notifier type takes, besides type, title, template and events."""
REQUIRED = {"webhook": "url", "slack": "webhook_url", "sns": "topic_arn", "email": "host"}
EVENTS = ("firing", "resolved", "reminder", "flapping", "acknowledged", "certificate")
_COMMON = frozenset({"type", "title", "template", "events"})
_ALL_OPTIONS = frozenset().union(*NOTIFIER_OPTIONS.values())
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")


def template_placeholders() -> frozenset[str]:
    """The placeholders a message template may use (``{target}``, ``{state}``, ...)."""
    # Imported here: nephos.notify imports nephos.config.types, so a module-level import
    # would make the two packages import each other while initialising.
    from nephos.notify.template import PLACEHOLDERS

    return PLACEHOLDERS


def read_notifiers(root: Section) -> dict[str, NotifierConfig]:
    """Every entry of ``notifiers``, by name.

    Raises:
        ConfigError: a name, type, option, event or template is invalid, or a required
            option is missing.
    """
    section = root.section("notifiers", (), open_keys=True)
    if section is None:
        return {}
    out: dict[str, NotifierConfig] = {}
    for name, node in section.extras.items():
        path = key_path(section.path, name)
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"{show(name)} is not a usable notifier name (letters, digits, _ . -)",
                file=root.file,
                line=section.node.key_lines.get(name),
                path=path,
            )
        entry = Section(
            node,
            path,
            root.file,
            _COMMON | _ALL_OPTIONS,
            aliases={"title_template": "title"},
            line=section.node.key_lines.get(name),
        )
        out[name] = _read_notifier(name, entry)
    return out


def _read_notifier(name: str, entry: Section) -> NotifierConfig:
    if not entry.has("type"):
        raise entry.error(None, f"missing required key type ({', '.join(NOTIFIER_OPTIONS)})")
    kind = entry.text("type", choices=tuple(NOTIFIER_OPTIONS)) or ""
    allowed = NOTIFIER_OPTIONS[kind]
    for option in _ALL_OPTIONS - allowed:
        if entry.has(option):
            raise entry.error(
                option,
                f"{kind} notifiers take no {option} (they take {', '.join(sorted(allowed))})",
            )
    if kind == "slack" and entry.has("url") and entry.has("webhook_url"):
        raise entry.error("url", "url and webhook_url are the same setting; keep one")
    required = REQUIRED.get(kind)
    if required and not entry.has(required) and not (kind == "slack" and entry.has("url")):
        raise entry.error(None, f"{kind} notifiers need {required}")
    events = entry.texts("events")
    for (path, node), event in zip(entry.nodes("events"), events, strict=True):
        if event not in EVENTS:
            hint = closest(event, EVENTS)
            near = f"did you mean {hint}? " if hint else ""
            raise ConfigError(
                f"{show(event)} is not an event ({near}one of {', '.join(EVENTS)})",
                file=entry.file,
                line=node.line,
                path=path,
            )
    return NotifierConfig(
        name=name,
        type=kind,
        options=_options(kind, entry),
        title_template=_template(entry, "title"),
        template=_template(entry, "template"),
        events=events,
    )


def _options(kind: str, entry: Section) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if kind == "log":
        options["level"] = entry.text("level", "warning", choices=("info", "warning", "error"))
        options["stdout"] = entry.boolean("stdout", False)
    if kind == "webhook":
        options["url"] = entry.convert("url", lambda v: _secret_url(v, ("http://", "https://")), "")
    if kind == "slack":
        key = "webhook_url" if entry.has("webhook_url") else "url"
        options["webhook_url"] = entry.convert(key, lambda v: _secret_url(v, ("https://",)), "")
    if kind == "webhook" and entry.has("headers"):
        options["headers"] = entry.text_mapping("headers")
    if entry.has("timeout"):
        seconds = entry.convert("timeout", parse_duration, None)
        if seconds is None or seconds.total_seconds() <= 0:
            raise entry.error("timeout", "must be longer than 0s")
        options["timeout"] = seconds.total_seconds()
    if kind == "email":
        options.update(_email_options(entry))
    if kind == "sns":
        options["topic_arn"] = entry.convert("topic_arn", _topic_arn, "")
        if entry.has("region"):
            options["region"] = entry.text("region")
        if entry.has("endpoint_url"):
            options["endpoint_url"] = entry.convert(
                "endpoint_url", lambda v: _secret_url(v, ("http://", "https://")), ""
            )
    return options


def _email_options(entry: Section) -> dict[str, Any]:
    for key in ("sender", "to"):
        if not entry.has(key):
            raise entry.error(None, f"email notifiers need {key}")
    options: dict[str, Any] = {"host": entry.text("host"), "sender": entry.text("sender")}
    options["to"] = list(entry.texts("to"))
    for (path, node), address in zip(entry.nodes("to"), options["to"], strict=True):
        if "@" not in address:
            raise ConfigError(
                f"{show(address)} is not an email address",
                file=entry.file,
                line=node.line,
                path=path,
            )
    if "@" not in str(options["sender"]):
        raise entry.error("sender", f"{show(options['sender'])} is not an email address")
    if entry.has("port"):
        options["port"] = entry.integer("port", 25, minimum=1, maximum=65535)
    for key in ("starttls", "ssl"):
        if entry.has(key):
            options[key] = entry.boolean(key, False)
    if entry.has("username"):
        options["username"] = entry.text("username")
    if entry.has("password"):
        options["password"] = entry.text("password", secret=True)
    return options


def _secret_url(value: object, schemes: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value.startswith(schemes) or len(value) <= len(schemes[0]):
        # The URL is a credential (Slack webhooks are), so the message does not repeat it.
        raise ConfigError(f"expected a {' or '.join(s[:-3] for s in schemes)} URL")
    return value


def _topic_arn(value: object) -> str:
    if not isinstance(value, str) or not _ARN.fullmatch(value):
        raise ConfigError(
            f"{show(value)} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)"
        )
    return value


def _template(entry: Section, key: str) -> str | None:
    node = entry.get(key)
    if node is None or node.value is None:
        return None
    text = entry.text(key) or ""
    problem = _template_problem(text, template_placeholders())
    if problem is not None:
        message, offset = problem
        raise entry.error(key, message, line=_line_in(node, text, offset))
    return text


def _line_in(node: Node, text: str, offset: int) -> int:
    return node.line_at(offset) if node.value == text else node.line


def _template_problem(text: str, known: Collection[str]) -> tuple[str, int] | None:
    """The first problem of a ``str.format`` template and where it is, or None."""
    try:
        pieces = list(string.Formatter().parse(text))
    except ValueError as exc:
        return f"malformed template: {exc} (write {{{{ and }}}} for literal braces)", 0
    shown = ", ".join("{" + p + "}" for p in sorted(known))
    for _, field, spec, _ in pieces:
        if field is None:
            continue
        offset = max(text.find("{" + field), 0)
        if field not in known:
            written = "{" + field + "}"
            hint = closest(field, known)
            near = f"did you mean {{{hint}}}? " if hint else ""
            return f"unknown placeholder {written} ({near}known: {shown})", offset
        if spec and "{" in spec:
            return f"{{{field}:{spec}}}: nested placeholders are not supported", offset
    return None
