"""Where a target points: URL schemes, host:port addresses, DNS names and IP addresses.

Reads ``url``, or ``kind`` with ``host``/``port``/``address``, into a CheckKind and the
address string that :class:`nephos.model.Target` carries. No network access happens here.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from nephos.config.section import Section
from nephos.config.values import show
from nephos.errors import ConfigError
from nephos.model import CheckKind

__all__ = ["check_host", "check_port", "read_endpoint", "split_host_port"]

_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_SCHEMES = "http, https, tcp, tls or dns"
KIND_CHOICES = ("http", "tls", "dns", "tcp")


def check_host(host: str) -> str:
    """``host`` if it is an IP address or a valid DNS name.

    Raises:
        ConfigError: it is neither.
    """
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate)
        return candidate
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(p) for p in name.split(".")):
        raise ConfigError(f"{show(host)} is not a host name or IP address")
    return host


def check_port(value: object) -> int:
    """``value`` as a TCP port.

    Raises:
        ConfigError: it is not a whole number from 1 to 65535.
    """
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(f"{show(value)} is not a port (1-65535)")
    return value


def split_host_port(text: str, *, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) split and checked.

    Raises:
        ConfigError: the host or port is invalid, or the port is missing without a default.
    """
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else None
        if not sep or (rest and port_text is None):
            raise ConfigError(f"{show(text)} is not host:port")
    else:
        host, sep, port_text_or_empty = text.rpartition(":")
        if not sep or ":" in host:  # no port, or a bare IPv6 address
            host, port_text = text, None
        else:
            port_text = port_text_or_empty
    if port_text is None:
        if default_port is None:
            raise ConfigError(f"{show(text)} has no port (write host:port)")
        return check_host(host), default_port
    return check_host(host), check_port(port_text)


def join_host_port(host: str, port: int) -> str:
    """``host:port``, bracketing an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def read_endpoint(target: Section) -> tuple[CheckKind, str]:
    """The kind and address of a target section.

    Raises:
        ConfigError: the URL, kind, host, port or address is missing, invalid or contradictory.
    """
    kind_text = target.text("kind", choices=KIND_CHOICES)
    declared = CheckKind(kind_text) if kind_text else None
    if target.has("url"):
        for other in ("host", "port", "address"):
            if target.has(other):
                raise target.error(other, "url and host/port/address are alternatives; keep one")
        kind, address = target.convert("url", _parse_url, (CheckKind.HTTP, ""))
        if declared is not None and declared is not kind:
            raise target.error(
                "kind",
                f"kind {declared} contradicts the url, which makes this "
                f"{'an' if kind is CheckKind.HTTP else 'a'} {kind.upper()} check "
                f"(drop kind, or write the url as {declared}://...)",
            )
        return kind, address
    if declared is None:
        raise target.error(
            None, "needs url (http(s)://, tcp://, tls:// or dns://), or kind with host or address"
        )
    if declared is CheckKind.HTTP:
        raise target.error(None, "http targets need url")
    if target.has("address") and (target.has("host") or target.has("port")):
        blame = "host" if target.has("host") else "port"
        raise target.error(blame, "address and host/port are alternatives; keep one")
    if declared is CheckKind.DNS:
        if target.has("port"):
            raise target.error("port", "dns targets take no port (set dns.resolvers instead)")
        name = target.text("address") or target.text("host")
        if not name:
            raise target.error(None, "dns targets need host (the name to query)")
        key = "address" if target.has("address") else "host"
        return declared, target.convert(key, lambda v: check_host(str(v)), name)
    default_port = 443 if declared is CheckKind.TLS else None
    if target.has("address"):
        host, port = target.convert(
            "address", lambda v: split_host_port(str(v), default_port=default_port), ("", 0)
        )
        return declared, join_host_port(host, port)
    if not target.has("host"):
        raise target.error(None, f"{declared} targets need host and port, or address")
    host = target.convert("host", lambda v: check_host(str(v)), "")
    given: int | None = target.convert("port", check_port, default_port)
    if given is None:
        raise target.error(None, f"{declared} targets need port")
    return declared, join_host_port(host, given)


def _parse_url(value: object) -> tuple[CheckKind, str]:
    if not isinstance(value, str):
        raise ConfigError(f"expected a URL, got {show(value)}")
    text = value.strip()
    if "://" not in text:
        raise ConfigError(f"{show(text)} is not a URL (write https://{text} or tcp://host:port)")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{show(text)} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if port == 0:
        raise ConfigError(f"{show(text)}: 0 is not a port (1-65535)")
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ConfigError(f"{show(text)} has no host")
        check_host(parts.hostname)
        return CheckKind.HTTP, text
    if scheme == "dns":
        name = parts.netloc or parts.path.strip("/")
        if port is not None or (parts.netloc and parts.path.strip("/")):
            raise ConfigError(f"{show(text)}: write dns://name; set dns.resolvers for the server")
        return CheckKind.DNS, check_host(name)
    if scheme in ("tcp", "tls"):
        if parts.path.strip("/") or parts.query:
            raise ConfigError(f"{show(text)}: a {scheme} url is only {scheme}://host:port")
        if not parts.hostname:
            raise ConfigError(f"{show(text)} has no host")
        if port is None and scheme == "tcp":
            raise ConfigError(f"{show(text)} has no port (write tcp://host:port)")
        host = check_host(parts.hostname)
        return CheckKind(scheme), join_host_port(host, port or 443)
    shown = f"scheme {scheme}" if scheme else "no scheme"
    raise ConfigError(f"{show(text)} has an unsupported {shown} (use {_SCHEMES})")
