"""The events stream to Snowflake (optional: ``EnableEtl``).

Each batch of events-table records becomes change-feed events, loaded with the warehouse's
own ``load_events`` (which skips seqs it already holds, so a retried batch loads nothing
twice). The connection settings are the JSON of the Secrets Manager secret named by
``NEPHOS_SNOWFLAKE_SECRET``; the Snowflake connector comes from the dependencies layer.
"""

from __future__ import annotations

import json
import os
from typing import Any

from handlers import runtime
from nephos.deploy.aws_live import events_of_records


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Load one batch of stream records into the warehouse."""
    from nephos.warehouse.snowflake import SnowflakeWarehouse

    events = events_of_records(event.get("Records") or [])
    if not events:
        return {"loaded": 0}
    secret = runtime.client("secretsmanager").get_secret_value(
        SecretId=os.environ["NEPHOS_SNOWFLAKE_SECRET"]
    )
    warehouse = SnowflakeWarehouse(json.loads(secret["SecretString"]), clock=runtime.clock)

    async def load() -> int:
        await warehouse.open()
        try:
            return await warehouse.load_events(events)
        finally:
            await warehouse.close()

    return {"loaded": runtime.run(load())}
