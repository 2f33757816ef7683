"""One sentinel round per EventBridge tick (optional: ``EnableSentinel``).

The config is the YAML text of the SSM parameter ``NEPHOS_CONFIG_PARAMETER``; its hot store
is replaced by the stack's DynamoDB tables (its spool by /tmp), so the round's results, alerts
and events land where the broadcast and the ETL read them. Notifiers of type ``sns`` can name
the stack's topic (``NEPHOS_ALERT_TOPIC``) through ``${NEPHOS_ALERT_TOPIC}`` in the config.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from handlers import runtime


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one round; the worst health of the fleet."""
    from nephos.config import parse_config
    from nephos.sentinel.runner import Sentinel

    found = runtime.client("ssm").get_parameter(
        Name=os.environ["NEPHOS_CONFIG_PARAMETER"], WithDecryption=True
    )
    config = parse_config(str(found["Parameter"]["Value"]), file="ssm:sentinel-config")
    # Only /tmp is writable in Lambda: the spool for writes the store refuses lives there.
    hot = replace(config.storage.hot, backend="dynamodb", spool_dir="/tmp/nephos-spool")  # noqa: S108
    config = replace(config, storage=replace(config.storage, hot=hot))
    sentinel = Sentinel(config, store=runtime.store(), clock=runtime.clock)

    async def round_() -> str:
        try:
            return str((await sentinel.run_once()).value)
        finally:
            await sentinel.close()

    return {"health": runtime.run(round_())}
