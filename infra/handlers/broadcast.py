"""DynamoDB stream records to WebSocket frames.

Records from the events table become ``event`` frames, encoded once and posted to every
connection whose filter passes them (connections that are gone are removed). Records of a new
connection row bring that connection its ``hello`` and its snapshot (or the events after its
``since``), the frames the local hub sends first.
"""

from __future__ import annotations

import os
import time
from typing import Any

from handlers import runtime
from nephos.deploy.aws_live import (
    ConnectionTable,
    events_of_records,
    fan_out,
    from_image,
    greeting,
    post,
)

GREETING_ATTEMPTS = 5
"""Posts tried for a greeting: the stream can be faster than API Gateway's handshake."""
GREETING_PAUSE_S = 0.2


def _from_connections(record: dict[str, Any], table: str) -> bool:
    return f":table/{table}/stream/" in str(record.get("eventSourceARN", ""))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fan out one batch of stream records."""
    table_name = os.environ["NEPHOS_CONNECTIONS_TABLE"]
    table = ConnectionTable(runtime.client("dynamodb"), table_name, runtime.clock)
    records = list(event.get("Records") or [])
    greeted = 0
    for record in records:
        if not _from_connections(record, table_name) or record.get("eventName") != "INSERT":
            continue
        connection = from_image(record["dynamodb"]["NewImage"])
        frames = runtime.run(greeting(runtime.store(), connection.query, runtime.clock))
        api = runtime.client("apigatewaymanagementapi", connection.endpoint)
        for _ in range(GREETING_ATTEMPTS):
            _sent, alive = post(api, connection.connection_id, frames)
            if alive:
                break
            time.sleep(GREETING_PAUSE_S)
        greeted += 1
    events = events_of_records(r for r in records if not _from_connections(r, table_name))
    posted = gone = 0
    if events:
        posted, gone = fan_out(
            table.all(),
            events,
            lambda endpoint: runtime.client("apigatewaymanagementapi", endpoint),
            table,
        )
    return {"events": len(events), "posted": posted, "gone": gone, "greeted": greeted}
