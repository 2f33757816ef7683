"""The ``targets`` list: each entry read into a :class:`nephos.model.Target`.

Timing and latency settings that a target leaves out are inherited from the ``sentinel``
section (:class:`TargetDefaults`); kind-specific keys (``method``, ``tcp``, ``dns``...) are
rejected on targets of another kind so that a misplaced key is never silently ignored.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from nephos.config.endpoints import check_host, read_endpoint, split_host_port
from nephos.config.rules import read_alert_rules, read_latency, read_maintenance
from nephos.config.section import Section, parse_int
from nephos.config.values import closest, format_duration, show
from nephos.errors import ConditionSyntaxError, ConfigError
from nephos.model import (
    AlertRule,
    CheckKind,
    DnsOptions,
    HttpOptions,
    LatencyThresholds,
    Target,
    TcpOptions,
    TlsOptions,
)
from nephos.probes.conditions import parse_condition

__all__ = ["KNOWN_PROVIDERS", "TargetDefaults", "check_condition", "read_targets"]

KNOWN_PROVIDERS = frozenset({"aws", "vultr", "gcp", "azure", "static", "demo", "other"})
_HTTP_KEYS = ("method", "headers", "body", "expected_status", "follow_redirects",
              "max_redirects", "max_body", "proxy")  # fmt: skip
_TARGET_KEYS = frozenset(
    {"name", "url", "kind", "host", "port", "address", "interval", "failing_interval",
     "timeout", "latency", "conditions", "ip_family", "tls", "tcp", "dns", "alerts",
     "maintenance", "provider", "region", "group", "instance", "runbook", "canary", "enabled",
     *_HTTP_KEYS}
)  # fmt: skip
_TARGET_ALIASES = {
    "type": "kind",
    "max_body_bytes": "max_body",
    "expected_statuses": "expected_status",
}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_IP_FAMILIES = {
    "ipv4": "ipv4",
    "ip4": "ipv4",
    "4": "ipv4",
    "ipv6": "ipv6",
    "ip6": "ipv6",
    "6": "ipv6",
}
_RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "PTR", "SRV", "CAA")
_RCODES = ("NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_MIN_INTERVAL = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class TargetDefaults:
    """What a target inherits, and the names it may refer to."""

    interval: timedelta
    failing_interval: timedelta | None
    timeout: timedelta
    latency: LatencyThresholds
    alerts: tuple[AlertRule, ...]
    notifiers: Collection[str]
    providers: Collection[str]


def read_targets(root: Section, defaults: TargetDefaults) -> tuple[Target, ...]:
    """Every entry of ``targets``.

    Raises:
        ConfigError: an entry is invalid, or two entries share a name.
    """
    targets: list[Target] = []
    first_line: dict[str, int] = {}
    for path, node in root.nodes("targets"):
        section = Section(node, path, root.file, _TARGET_KEYS, aliases=_TARGET_ALIASES)
        target = _read_target(section, defaults)
        if target.name in first_line:
            first = first_line[target.name]
            message = f"duplicate target name {show(target.name)} (first at line {first})"
            raise section.error("name", message)
        first_line[target.name] = section.line_of("name")
        targets.append(target)
    return tuple(targets)


def _read_target(section: Section, defaults: TargetDefaults) -> Target:
    section.require("name")
    name = section.convert("name", _target_name, "")
    kind, address = read_endpoint(section)
    interval = section.duration("interval", defaults.interval, minimum=_MIN_INTERVAL)
    alerts = read_alert_rules(section, "alerts", defaults.notifiers)
    _reject_foreign_keys(section, kind)
    return Target(
        name=name,
        kind=kind,
        address=address,
        interval=interval,
        failing_interval=_failing_interval(section, interval, defaults),
        timeout=_timeout(section, interval, defaults),
        conditions=_conditions(section),
        latency=read_latency(section, defaults.latency, inherited_from="sentinel.latency"),
        provider=_provider(section, defaults.providers),
        region=section.text("region"),
        group=section.text("group"),
        instance=section.text("instance"),
        http=_http_options(section),
        tls=_tls_options(section),
        dns=_dns_options(section),
        tcp=_tcp_options(section),
        alerts=defaults.alerts if alerts is None else alerts,
        maintenance=read_maintenance(section, "maintenance"),
        runbook=section.text("runbook"),
        canary=section.boolean("canary", False),
        enabled=section.boolean("enabled", True),
    )


def _target_name(value: object) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"expected a name, got {show(value)}")
    name = str(value)
    if name != name.strip() or not name or len(name) > 200 or not name.isprintable():
        raise ConfigError(f"{show(name)} is not a usable name (printable, no edge spaces)")
    return name


def _reject_foreign_keys(section: Section, kind: CheckKind) -> None:
    allowed = {
        CheckKind.HTTP: {*_HTTP_KEYS, "tls", "ip_family"},
        CheckKind.TLS: {"tls", "ip_family"},
        CheckKind.TCP: {"tcp", "ip_family"},
        CheckKind.DNS: {"dns"},
    }[kind]
    for key in (*_HTTP_KEYS, "tls", "tcp", "dns", "ip_family"):
        if section.has(key) and key not in allowed:
            raise section.error(
                key, f"only {_kinds_taking(key)} targets take {key}; this is a {kind} target"
            )


def _kinds_taking(key: str) -> str:
    if key in _HTTP_KEYS:
        return "http"
    return {"tls": "http and tls", "ip_family": "http, tls and tcp"}.get(key, key)


def _failing_interval(
    section: Section, interval: timedelta, defaults: TargetDefaults
) -> timedelta | None:
    node = section.get("failing_interval")
    if node is None:
        inherited = defaults.failing_interval
        return inherited if inherited is not None and inherited < interval else None
    if node.value is None or node.value is False:
        return None
    value = section.duration("failing_interval", interval, minimum=_MIN_INTERVAL)
    if value > interval:
        raise section.error(
            "failing_interval",
            f"{format_duration(value)} is longer than interval ({format_duration(interval)}); "
            "it is the faster re-check while failing",
        )
    return value


def _timeout(section: Section, interval: timedelta, defaults: TargetDefaults) -> timedelta:
    if not section.has("timeout"):
        return min(defaults.timeout, interval)
    value = section.duration("timeout", defaults.timeout, minimum=timedelta(milliseconds=1))
    if value > interval:
        raise section.error(
            "timeout",
            f"{format_duration(value)} is longer than interval ({format_duration(interval)})",
        )
    return value


def _conditions(section: Section) -> tuple[str, ...]:
    texts = section.texts("conditions")
    for (path, node), text in zip(section.nodes("conditions"), texts, strict=True):
        try:
            check_condition(text)
        except ConditionSyntaxError as exc:
            column = f" at column {exc.column} of" if exc.column else " in"
            raise ConfigError(
                f"{exc.message}{column} {show(text)}", file=section.file, line=node.line, path=path
            ) from exc
    return texts


def check_condition(text: str) -> None:
    """Parse one condition with the condition language, for its errors only.

    Raises:
        ConditionSyntaxError: the condition does not parse.
    """
    parse_condition(text)


def _provider(section: Section, configured: Collection[str]) -> str:
    provider = section.text("provider", "other") or "other"
    known = KNOWN_PROVIDERS | set(configured)
    if provider not in known:
        hint = closest(provider, known)
        near = f"did you mean {hint}? " if hint else ""
        raise section.error(
            "provider",
            f"{show(provider)} is not a provider ({near}known: {', '.join(sorted(known))})",
        )
    return provider


def _http_options(section: Section) -> HttpOptions:
    if not any(section.has(k) for k in (*_HTTP_KEYS, "ip_family")):
        return HttpOptions()
    method = (section.text("method", "GET") or "GET").upper()
    if method not in _METHODS:
        raise section.error(
            "method", f"{show(method)} is not an HTTP method ({', '.join(_METHODS)})"
        )
    headers = section.text_mapping("headers")
    header_node = section.get("headers")
    for header, value in headers.items():
        line = header_node.key_lines.get(header) if header_node else None
        if not _HEADER_NAME.fullmatch(header):
            raise section.error("headers", f"{show(header)} is not a header name", line=line)
        if "\r" in value or "\n" in value:
            raise section.error("headers", f"the value of {header} spans lines", line=line)
    body = _body(section, headers)
    statuses = []
    for path, node in section.nodes("expected_status"):
        code = parse_int(node.value)
        if code is None or not 100 <= code <= 599:
            raise ConfigError(
                f"{show(node.value)} is not an HTTP status (100-599)",
                file=section.file,
                line=node.line,
                path=path,
            )
        statuses.append(code)
    family = section.text("ip_family", choices=tuple(_IP_FAMILIES))
    return HttpOptions(
        method=method,
        headers=headers,
        body=body,
        expected_status=tuple(statuses),
        follow_redirects=section.boolean("follow_redirects", True),
        max_redirects=section.integer("max_redirects", 10, minimum=0, maximum=100),
        max_body_bytes=section.size("max_body", 1024 * 1024, minimum=1),
        ip_family=_IP_FAMILIES[family] if family else None,
        proxy=section.convert("proxy", _proxy, None),
    )


def _body(section: Section, headers: dict[str, str]) -> str | None:
    node = section.get("body")
    if node is None or node.value is None:
        return None
    if node.is_mapping or node.is_list:
        # A structured body is sent as JSON, and says so unless the user set a content type.
        if not any(h.lower() == "content-type" for h in headers):
            headers["Content-Type"] = "application/json"
        return json.dumps(node.plain())
    return section.text("body")


def _proxy(value: object) -> str:
    text = str(value)
    if not text.startswith(("http://", "https://", "socks5://", "socks5h://")):
        # The proxy URL may hold credentials, so it is not echoed.
        raise ConfigError("expected a proxy URL (http://, https:// or socks5://)")
    return text


def _tls_options(section: Section) -> TlsOptions:
    tls = section.section(
        "tls",
        {"verify", "ca_file", "cert_file", "key_file", "server_name", "min_version"},
    )
    if tls is None:
        return TlsOptions()
    files = {k: tls.convert(k, _existing_file, None) for k in ("ca_file", "cert_file", "key_file")}
    if files["key_file"] and not files["cert_file"]:
        raise tls.error("key_file", "key_file needs cert_file")
    server_name = tls.convert("server_name", lambda v: check_host(str(v)), None)
    return TlsOptions(
        verify=tls.boolean("verify", True),
        ca_file=files["ca_file"],
        cert_file=files["cert_file"],
        key_file=files["key_file"],
        server_name=server_name,
        min_version=tls.convert("min_version", _tls_version, None),
    )


def _existing_file(value: object) -> str:
    path = os.path.expanduser(str(value))
    if not os.path.isfile(path):
        raise ConfigError(f"{show(str(value))} is not a readable file")
    return path


def _tls_version(value: object) -> str:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    text = text.lower().removeprefix("tlsv").removeprefix("tls").strip()
    if text not in ("1.2", "1.3"):
        raise ConfigError(f"{show(value)} is not a TLS version (1.2 or 1.3)")
    return text


def _tcp_options(section: Section) -> TcpOptions:
    tcp = section.section("tcp", {"send", "expect"})
    if tcp is None:
        return TcpOptions()
    return TcpOptions(send=tcp.text("send"), expect=tcp.convert("expect", _regex, None))


def _regex(value: object) -> str:
    text = str(value)
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{show(text)} is not a regular expression: {exc}") from None
    return text


def _dns_options(section: Section) -> DnsOptions:
    dns = section.section(
        "dns",
        {"record_type", "resolvers", "expected", "rcode"},
        aliases={
            "query_type": "record_type",
            "type": "record_type",
            "expected_rcode": "rcode",
            "resolver": "resolvers",
        },
    )
    if dns is None:
        return DnsOptions()
    record_type = (dns.text("record_type", "A") or "A").upper()
    if record_type not in _RECORD_TYPES:
        raise dns.error(
            "record_type", f"{show(record_type)} is not a record type ({', '.join(_RECORD_TYPES)})"
        )
    rcode = (dns.text("rcode", "NOERROR") or "NOERROR").upper()
    if rcode not in _RCODES:
        raise dns.error("rcode", f"{show(rcode)} is not a DNS rcode ({', '.join(_RCODES)})")
    resolvers = []
    for (path, node), text in zip(dns.nodes("resolvers"), dns.texts("resolvers"), strict=True):
        try:
            resolvers.append(_resolver(text))
        except ConfigError as exc:
            raise ConfigError(exc.message, file=dns.file, line=node.line, path=path) from exc
    return DnsOptions(
        record_type=record_type,
        resolvers=tuple(resolvers),
        expected=dns.texts("expected"),
        expected_rcode=rcode,
    )


def _resolver(text: str) -> str:
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    try:
        host, port = split_host_port(text)
        ipaddress.ip_address(host)
    except (ConfigError, ValueError):
        raise ConfigError(
            f"{show(text)} is not a resolver (an IP address, optionally with :port)"
        ) from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
