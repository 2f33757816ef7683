"""The hub's token check, shared by the WebSocket handshake and the HTTP ingest routes."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

__all__ = ["token_presented"]


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
