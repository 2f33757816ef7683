"""Loading a config file: lookup, reading, and the top-level, storage, hub and sentinel sections.

``load_config`` finds the file, parses it into located nodes (``yamlnodes``), and reads each
section into the frozen dataclasses of ``types.py``. Targets and notifiers have their own
modules. Every error is a ConfigError naming file, line and key path.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from nephos.config.analytics import read_analytics, read_etl
from nephos.config.endpoints import split_host_port
from nephos.config.insights import read_insights
from nephos.config.notifiers import read_notifiers
from nephos.config.rules import read_alert_rules, read_latency, read_maintenance
from nephos.config.section import Section
from nephos.config.targets import KNOWN_PROVIDERS, TargetDefaults, read_targets
from nephos.config.types import (
    Config,
    HotStoreConfig,
    HubConfig,
    SentinelConfig,
    StorageConfig,
    WarehouseConfig,
)
from nephos.config.values import closest, format_duration, parse_duration, show
from nephos.config.yamlnodes import Node, parse_yaml
from nephos.errors import ConfigError
from nephos.model import LatencyThresholds

__all__ = [
    "ENV_VAR",
    "default_config",
    "find_config_file",
    "load_config",
    "parse_config",
    "search_paths",
]

ENV_VAR = "NEPHOS_CONFIG"
_TOP_KEYS = frozenset(
    {"storage", "hub", "sentinel", "providers", "targets", "notifiers", "insights", "analytics",
     "etl"}
)  # fmt: skip
_HOT_KEYS = frozenset({"backend", "path", "retention", "spool_dir", "spool_max_bytes"})
_WAREHOUSE_KEYS = frozenset({"backend", "path"})
# The embedded backends take no options beyond the common keys; the cloud ones pass theirs
# through to the backend, which checks them.
_HOT_BACKENDS = {"sqlite": False, "dynamodb": True}
_WAREHOUSE_BACKENDS = {"duckdb": False, "snowflake": True}
_SENTINEL_KEYS = frozenset(
    {"interval", "failing_interval", "timeout", "concurrency", "latency", "alerts",
     "maintenance", "flap_window", "flap_threshold", "certificate_reminders",
     "offline_when_all_fail", "metrics_port"}
)  # fmt: skip
_MIN_TOKEN = 16


def search_paths(env: Mapping[str, str] | None = None) -> list[str]:
    """Where a config file is looked for when none is named, in order."""
    del env  # the fixed places do not depend on it; kept for symmetry with find_config_file
    return ["nephos.yaml", os.path.expanduser("~/.config/nephos/nephos.yaml")]


def find_config_file(explicit: str | None, *, env: Mapping[str, str] | None = None) -> str | None:
    """The config file to use: ``explicit``, then ``$NEPHOS_CONFIG``, then ``./nephos.yaml``,
    then ``~/.config/nephos/nephos.yaml``; None when there is none.

    Args:
        explicit: a path given with ``--config``.
        env: the environment (default ``os.environ``).

    Raises:
        ConfigError: ``explicit`` or ``$NEPHOS_CONFIG`` names a file that does not exist.
    """
    env = os.environ if env is None else env
    for given, origin in ((explicit, "--config"), (env.get(ENV_VAR), f"${ENV_VAR}")):
        if given:
            path = os.path.expanduser(given)
            if not os.path.isfile(path):
                what = "is a directory" if os.path.isdir(path) else "does not exist"
                raise ConfigError(f"config file {given} (from {origin}) {what}")
            return path
    for candidate in search_paths(env):
        if os.path.isfile(candidate):
            return candidate
    return None


def default_config() -> Config:
    """The configuration used when no file is found: embedded backends, no targets."""
    return Config()


def load_config(path: str | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Find, read and validate the configuration.

    Args:
        path: an explicit file (``--config``); without one the lookup order of
            :func:`find_config_file` applies, and :func:`default_config` when nothing is found.
        env: the environment for ``${VAR}`` references and ``$NEPHOS_CONFIG``
            (default ``os.environ``).

    Raises:
        ConfigError: the file is missing, unreadable or invalid; the message names file, line
            and key path.
    """
    env = os.environ if env is None else env
    found = find_config_file(path, env=env)
    if found is None:
        return default_config()
    try:
        with open(found, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise ConfigError("is not UTF-8 text", file=found) from exc
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror}", file=found) from exc
    return parse_config(text, file=found, env=env)


def parse_config(
    text: str, *, file: str | None = None, env: Mapping[str, str] | None = None
) -> Config:
    """Validate config text.

    Args:
        text: the YAML document.
        file: how errors name it, and the resulting ``Config.source``.
        env: the environment for ``${VAR}`` references (default ``os.environ``).

    Raises:
        ConfigError: the text is invalid.
    """
    root_node = parse_yaml(text, file=file, env=os.environ if env is None else env)
    if root_node is None:
        return Config(source=file)
    root = Section(root_node, "", file, _TOP_KEYS)
    providers = _providers(root)
    notifiers = read_notifiers(root)
    sentinel = _sentinel(root, notifiers)
    defaults = TargetDefaults(
        interval=sentinel.interval,
        failing_interval=sentinel.failing_interval,
        timeout=sentinel.timeout,
        latency=sentinel.latency,
        alerts=sentinel.default_alerts,
        notifiers=tuple(notifiers),
        providers=tuple(providers),
    )
    return Config(
        source=file,
        storage=_storage(root),
        hub=_hub(root),
        sentinel=sentinel,
        providers=providers,
        targets=read_targets(root, defaults),
        notifiers=notifiers,
        insights=read_insights(root),
        analytics=read_analytics(root, tuple(notifiers)),
        etl=read_etl(root),
    )


def _storage(root: Section) -> StorageConfig:
    storage = root.section("storage", {"hot", "warehouse"})
    if storage is None:
        return StorageConfig()
    hot = storage.section("hot", _HOT_KEYS, open_keys=True)
    warehouse = storage.section("warehouse", _WAREHOUSE_KEYS, open_keys=True)
    hot_config = HotStoreConfig()
    if hot is not None:
        hot_config = HotStoreConfig(
            backend=hot.text("backend", "sqlite", choices=tuple(_HOT_BACKENDS)) or "sqlite",
            path=hot.text("path", hot_config.path) or hot_config.path,
            retention=hot.duration(
                "retention", hot_config.retention, allow_number=False, minimum=timedelta(hours=1)
            ),
            spool_dir=hot.text("spool_dir"),
            spool_max_bytes=hot.size("spool_max_bytes", hot_config.spool_max_bytes, minimum=1024),
            options=_backend_options(hot, _HOT_BACKENDS, _HOT_KEYS),
        )
        if hot_config.backend == "dynamodb":
            _check_dynamodb_options(hot, hot_config.options)
    warehouse_config = WarehouseConfig()
    if warehouse is not None:
        warehouse_config = WarehouseConfig(
            backend=warehouse.text("backend", "duckdb", choices=tuple(_WAREHOUSE_BACKENDS))
            or "duckdb",
            path=warehouse.text("path", warehouse_config.path) or warehouse_config.path,
            options=_backend_options(warehouse, _WAREHOUSE_BACKENDS, _WAREHOUSE_KEYS),
        )
    return StorageConfig(hot=hot_config, warehouse=warehouse_config)


def _backend_options(
    section: Section, backends: Mapping[str, bool], common: frozenset[str]
) -> dict[str, Any]:
    backend = section.text("backend", next(iter(backends)), choices=tuple(backends)) or ""
    if not backends[backend]:
        for key in section.extras:
            hint = closest(key.replace("-", "_"), common)
            near = f"did you mean {hint}? " if hint else ""
            raise ConfigError(
                f"unknown key ({near}{backend} takes {', '.join(sorted(common))})",
                file=section.file,
                line=section.node.key_lines.get(key),
                path=f"{section.path}.{key}",
            )
    return {key: node.plain() for key, node in section.extras.items()}


def _check_dynamodb_options(section: Section, options: Mapping[str, Any]) -> None:
    """Check the dynamodb backend's options now, so that errors name the file and line."""
    from nephos.store.dynamodb_client import DynamoOptions

    try:
        DynamoOptions.parse(options)
    except ConfigError as exc:
        written = (exc.path or "").rpartition(".")[2]
        keys = {key.replace("-", "_"): key for key in section.extras}
        line = section.node.key_lines.get(keys.get(written, written), section.line)
        raise ConfigError(exc.message, file=section.file, line=line, path=exc.path) from exc


def _hub(root: Section) -> HubConfig:
    hub = root.section("hub", {"listen", "token", "max_frame_bytes", "ingest_listen"})
    if hub is None:
        return HubConfig()
    base = HubConfig()
    listen = hub.text("listen", base.listen) or base.listen
    host, port = hub.convert(
        "listen", lambda v: split_host_port(str(v)), split_host_port(base.listen)
    )
    token = hub.text("token", secret=True) or None  # empty, e.g. from ${TOKEN:-}: no token
    if token is not None and len(token) < _MIN_TOKEN:
        raise hub.error(
            "token",
            f"must be at least {_MIN_TOKEN} characters; use a random one "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')",
        )
    if token is None and not _is_loopback(host):
        raise hub.error(
            "listen",
            f"{listen} is reachable from other machines, so hub.token is required "
            "(or listen on 127.0.0.1)",
        )
    return HubConfig(
        listen=f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        token=token,
        max_frame_bytes=hub.size("max_frame_bytes", base.max_frame_bytes, minimum=1024),
        ingest_listen=_ingest_listen(hub, token),
    )


def _ingest_listen(hub: Section, token: str | None) -> str | None:
    """``hub.ingest_listen``: host:port, ``false`` (no ingest), or unset (next to the hub)."""
    node = hub.get("ingest_listen")
    if node is None or node.value is None:
        return None
    if node.value is False:
        return "off"
    if node.value is True:
        raise hub.error("ingest_listen", "expected host:port, or false for no ingest")
    host, port = hub.convert("ingest_listen", lambda v: split_host_port(str(v)), ("127.0.0.1", 0))
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if token is None and not _is_loopback(host):
        raise hub.error(
            "ingest_listen",
            f"{listen} is reachable from other machines, so hub.token is required "
            "(or listen on 127.0.0.1)",
        )
    return listen


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sentinel(root: Section, notifiers: Mapping[str, object]) -> SentinelConfig:
    base = SentinelConfig()
    sentinel = root.section("sentinel", _SENTINEL_KEYS)
    if sentinel is None:
        return base
    interval = sentinel.duration("interval", base.interval, minimum=timedelta(seconds=1))
    failing = _sentinel_limit(sentinel, "failing_interval", interval, base.failing_interval)
    if failing is not None and failing >= interval and not sentinel.has("failing_interval"):
        failing = None  # the default 30s means nothing for a 20s interval: no faster re-check
    timeout = _sentinel_limit(sentinel, "timeout", interval, min(base.timeout, interval))
    assert timeout is not None  # a null timeout is rejected by _sentinel_limit
    flap_threshold = sentinel.number(
        "flap_threshold", base.flap_threshold, minimum=0.0, maximum=1.0
    )
    if flap_threshold <= 0:
        raise sentinel.error("flap_threshold", "must be above 0 (a share of the window, e.g. 0.5)")
    alerts = read_alert_rules(sentinel, "alerts", tuple(notifiers))
    metrics_port = sentinel.get("metrics_port")
    return SentinelConfig(
        interval=interval,
        failing_interval=failing,
        timeout=timeout,
        concurrency=sentinel.integer("concurrency", base.concurrency, minimum=1, maximum=10_000),
        latency=read_latency(sentinel, LatencyThresholds()),
        default_alerts=alerts or (),
        maintenance=read_maintenance(sentinel, "maintenance"),
        flap_window=sentinel.integer("flap_window", base.flap_window, minimum=2, maximum=1000),
        flap_threshold=flap_threshold,
        certificate_reminders=_reminders(sentinel, base.certificate_reminders),
        offline_when_all_fail=sentinel.boolean("offline_when_all_fail", base.offline_when_all_fail),
        metrics_port=None
        if metrics_port is None or metrics_port.value is None
        else sentinel.integer("metrics_port", 0, minimum=1, maximum=65535),
    )


def _sentinel_limit(
    sentinel: Section, key: str, interval: timedelta, default: timedelta | None
) -> timedelta | None:
    """``failing_interval`` or ``timeout``: a duration no longer than ``interval``."""
    node = sentinel.get(key)
    if node is None:
        return default
    if node.value in (None, False):
        if key == "timeout":
            raise sentinel.error(key, "a check always needs a timeout")
        return None
    value = sentinel.duration(key, interval, minimum=timedelta(milliseconds=1))
    if value > interval:
        longer = f"{format_duration(value)} is longer than interval ({format_duration(interval)})"
        raise sentinel.error(key, longer)
    return value


def _reminders(sentinel: Section, default: tuple[int, ...]) -> tuple[int, ...]:
    if not sentinel.has("certificate_reminders"):
        return default
    days: set[int] = set()
    for path, node in sentinel.nodes("certificate_reminders"):
        value = node.value
        try:
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise ConfigError(f"expected days like 14 or 14d, got {show(value)}")
            amount = value if isinstance(value, int) else parse_duration(value).days
        except ConfigError as exc:
            raise ConfigError(exc.message, file=sentinel.file, line=node.line, path=path) from exc
        if amount < 1:
            raise ConfigError(
                f"{show(value)} is not a number of days (at least 1)",
                file=sentinel.file,
                line=node.line,
                path=path,
            )
        days.add(amount)
    return tuple(sorted(days, reverse=True))


def _providers(root: Section) -> dict[str, dict[str, Any]]:
    section = root.section("providers", KNOWN_PROVIDERS - {"other"})
    if section is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(KNOWN_PROVIDERS - {"other"}):
        node = section.get(name)
        if node is None:
            continue
        if node.value is None:
            out[name] = {}
            continue
        if not node.is_mapping:
            raise section.error(name, f"expected a mapping of options, got {show(node.value)}")
        out[name] = _provider_options(section, name)
    return out


def _provider_options(section: Section, name: str) -> dict[str, Any]:
    """One provider's options, checked by its class; ``interval`` is common to all of them."""
    # Imported here: the registry imports provider modules, which config loading should not
    # pay for unless the file names a provider.
    from nephos.providers import PROVIDER_NAMES, provider_class

    options = section.section(name, {"interval"}, open_keys=True)
    assert options is not None  # the caller checked the node is a mapping
    plain = {key: child.plain() for key, child in options.extras.items()}
    if name not in PROVIDER_NAMES:  # demo: its simulated clouds are set up by the demo command
        cleaned = dict(plain)
    else:
        try:
            cleaned = provider_class(name).validate_options(plain)
        except ConfigError as exc:
            if exc.file is not None:
                raise
            inner = exc.path or ""
            raise ConfigError(
                exc.message,
                file=section.file,
                line=_line_of(options.node, inner) if inner else options.line,
                path=f"{options.path}.{inner}" if inner else options.path,
            ) from exc
    if options.has("interval"):
        cleaned["interval"] = options.duration(
            "interval", timedelta(minutes=1), minimum=timedelta(seconds=10)
        )
    return cleaned


def _line_of(node: Node, path: str) -> int:
    """The line of key path ``path`` (``regions[1]``, ``instances[0].tags.env``) under
    ``node``, or of the deepest part of it that exists."""
    line = node.line
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("[") and node.is_list:
            index = int(part[1:-1])
            if index >= len(node.value):
                break
            node = node.value[index]
            line = node.line
        elif node.is_mapping and part in node.value:
            line = node.key_lines.get(part, node.line)
            node = node.value[part]
        else:
            break
    return line
