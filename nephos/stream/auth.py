"""Who may reach the hub: its listen addresses (loopback or beyond) and the token check,
shared by the WebSocket handshake and the HTTP ingest routes."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import parse_qs

from nephos.errors import ConfigError

__all__ = ["check_listen", "dial_url", "is_loopback", "parse_listen", "token_presented"]


def token_presented(expected: str, authorization: str, query: str) -> bool:
    """Whether a request presents ``expected``: ``Authorization: Bearer <token>`` or ``?token=``.

    Args:
        expected: the hub's token.
        authorization: the request's ``Authorization`` header ("" when absent).
        query: the request's query string, without the ``?``.
    """
    offered: list[str] = []
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential:
        offered.append(credential.strip())
    offered.extend(parse_qs(query).get("token", []))
    wanted = expected.encode()
    # compare_digest on every candidate: the time taken says nothing about the token.
    return any(hmac.compare_digest(c.encode(), wanted) for c in offered)


def parse_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8765`` for IPv6) as a host and a port.

    Raises:
        ConfigError: the address does not read as host:port.
    """
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"{listen!r} is not host:port (e.g. 127.0.0.1:8765)", path="hub.listen")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name, or "" for every interface


def check_listen(listen: str, token: str | None) -> tuple[str, int]:
    """The host and port of ``listen``, refusing an address beyond loopback without a token.

    Raises:
        ConfigError: the address does not parse, or it is reachable from other machines and
            there is no token.
    """
    host, port = parse_listen(listen)
    if not token and not is_loopback(host):
        raise ConfigError(
            f"the hub listens on {listen}, beyond this machine, so it needs a token "
            "(hub.token, e.g. ${NEPHOS_HUB_TOKEN})",
            path="hub.token",
        )
    return host, port


def dial_url(listen: str) -> str:
    """The ``ws://`` URL that reaches a hub listening on ``listen`` from this machine.

    Raises:
        ConfigError: ``listen`` does not parse.
    """
    host, port = parse_listen(listen)
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard is dialled on this machine
        host = "127.0.0.1"
    return f"ws://[{host}]:{port}/" if ":" in host else f"ws://{host}:{port}/"
