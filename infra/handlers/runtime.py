"""What the handlers share inside one warm Lambda container: an event loop, the hot store,
boto3 clients and the stream token (read from SSM, cached for a few minutes).

The cache is module state on purpose: Lambda keeps a module loaded between invocations of a
warm container, and reopening the store and clients on every call would cost a round trip
per table. :func:`reset` empties it (tests start each case cold).

Configuration comes from the environment that ``infra/template.yaml`` sets:
``NEPHOS_TABLE_PREFIX``, ``NEPHOS_CONNECTIONS_TABLE``, ``NEPHOS_TOKEN_PARAMETER``,
``NEPHOS_RETENTION_DAYS``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from nephos.clock import SystemClock
from nephos.store.base import HotStore

T = TypeVar("T")
TOKEN_CACHE_S = 300.0
"""How long a token read from SSM is trusted before it is read again (rotation)."""

_loop: asyncio.AbstractEventLoop | None = None
_store: HotStore | None = None
_clients: dict[tuple[str, str | None], Any] = {}
_token: tuple[float, str] | None = None
clock = SystemClock()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the container's loop (kept between invocations, like the store)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coroutine)


def client(service: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client, built once per container (and per endpoint)."""
    key = (service, endpoint_url)
    if key not in _clients:
        import boto3

        _clients[key] = boto3.client(service, endpoint_url=endpoint_url)
    return _clients[key]


def store() -> HotStore:
    """The DynamoDB hot store named by ``NEPHOS_TABLE_PREFIX``, opened once per container."""
    global _store
    if _store is None:
        from nephos.store.dynamodb import DynamoHotStore

        days = float(os.environ.get("NEPHOS_RETENTION_DAYS", "7"))
        opened = DynamoHotStore(
            {"table_prefix": os.environ["NEPHOS_TABLE_PREFIX"]},
            clock=clock,
            retention=timedelta(days=days),
        )
        run(opened.open())
        _store = opened
    return _store


def token() -> str:
    """The stream token from the SSM SecureString ``NEPHOS_TOKEN_PARAMETER``."""
    global _token
    now = time.monotonic()
    if _token is None or now - _token[0] > TOKEN_CACHE_S:
        found = client("ssm").get_parameter(
            Name=os.environ["NEPHOS_TOKEN_PARAMETER"], WithDecryption=True
        )
        _token = (now, str(found["Parameter"]["Value"]))
    return _token[1]


def headers(event: dict[str, Any]) -> dict[str, str]:
    """The request's headers with lower-case names (API Gateway keeps the client's case)."""
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def response(status: int, body: dict[str, Any], **extra: str) -> dict[str, Any]:
    """An API Gateway proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **extra},
        "body": json.dumps(body) + "\n",
    }


def reset() -> None:
    """Forget everything cached (tests start each case from a cold container)."""
    global _store, _token, _loop
    _store = None
    _token = None
    _clients.clear()
    if _loop is not None and not _loop.is_closed():
        _loop.close()
    _loop = None
