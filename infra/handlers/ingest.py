"""``POST /ingest`` on the HTTP API: the hub's ingest rules, written to the DynamoDB store.

The token is the stream token (``Authorization: Bearer`` or ``?token=``); the body is parsed
and validated by :mod:`nephos.stream.ingest` exactly as the local hub does, and the answers
are the local hub's (202, 400/413/415 naming the bad point, 401, 500, 503).
"""

from __future__ import annotations

import base64
from typing import Any

from handlers import runtime
from nephos.errors import StoreError, StoreUnavailable
from nephos.stream.auth import token_presented
from nephos.stream.ingest import IngestRefused, decode_body, parse_points


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Validate and store the posted metric points."""
    headers = runtime.headers(event)
    query = str(event.get("rawQueryString") or "")
    if not token_presented(runtime.token(), headers.get("authorization", ""), query):
        return runtime.response(
            401,
            {"error": "a valid token is required"},
            **{"WWW-Authenticate": 'Bearer realm="nephos"'},
        )
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    try:
        points = parse_points(
            decode_body(body, headers.get("content-encoding", "")),
            headers.get("content-type", ""),
        )
    except IngestRefused as exc:
        return runtime.response(exc.status, exc.body())
    try:
        runtime.run(runtime.store().put_metrics(points))
    except StoreUnavailable:
        return runtime.response(503, {"error": "the store is unavailable"}, **{"Retry-After": "5"})
    except StoreError as exc:
        return runtime.response(500, {"error": f"the store refused the points: {exc}"})
    return runtime.response(202, {"accepted": len(points), "spooled": False})
