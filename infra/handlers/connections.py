"""The WebSocket API's routes: ``$connect`` (token check, connection row), ``$disconnect``
(row removed) and ``$default`` (``ping`` answered with ``pong``).

The client's ``hello`` and first snapshot cannot be sent from ``$connect`` (API Gateway opens
the connection only once it returns), so the new row's stream record brings them: see
``broadcast``. Requests that need the store (``subscribe``, ``resync``, ``ack``) are answered
with an ``error`` frame: reconnect with ``?since=`` and filters instead.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, urlencode

from handlers import runtime
from nephos.deploy.aws_live import (
    Connection,
    ConnectionTable,
    connect_query,
    management_endpoint,
    post,
)
from nephos.stream.auth import token_presented
from nephos.stream.protocol import (
    ErrorMessage,
    Ping,
    Pong,
    ProtocolError,
    encode,
    parse_client_message,
)


def _table() -> ConnectionTable:
    return ConnectionTable(
        runtime.client("dynamodb"), os.environ["NEPHOS_CONNECTIONS_TABLE"], runtime.clock
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Dispatch on the route key."""
    request = event.get("requestContext") or {}
    route = request.get("routeKey")
    connection_id = str(request.get("connectionId", ""))
    if route == "$connect":
        query = connect_query(event)
        headers = runtime.headers(event)
        if not token_presented(runtime.token(), headers.get("authorization", ""), query):
            return {"statusCode": 401, "body": "a valid token is required"}
        # The token is never stored: the row keeps only since and the filters.
        kept = urlencode([(k, v) for k, v in parse_qsl(query) if k != "token"])
        endpoint = management_endpoint(request, os.environ.get("NEPHOS_MANAGEMENT_ENDPOINT"))
        _table().add(Connection(connection_id, endpoint, kept))
        return {"statusCode": 200}
    if route == "$disconnect":
        _table().remove(connection_id)
        return {"statusCode": 200}
    endpoint = management_endpoint(request, os.environ.get("NEPHOS_MANAGEMENT_ENDPOINT"))
    try:
        message = parse_client_message(event.get("body") or "")
    except ProtocolError as exc:
        reply = encode(ErrorMessage(code="bad_request", message=str(exc)))
    else:
        if isinstance(message, Ping):
            reply = encode(Pong(t=message.t))
        else:
            reply = encode(
                ErrorMessage(
                    code="unsupported",
                    message=f"{message.type} is not served through API Gateway; "
                    "reconnect with ?since= and filters",
                )
            )
    post(runtime.client("apigatewaymanagementapi", endpoint), connection_id, [reply])
    return {"statusCode": 200}
