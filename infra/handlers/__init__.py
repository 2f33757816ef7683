"""The nephos Lambda handlers: thin wrappers over the nephos core, one module per function.

``ingest`` (HTTP API ``POST /ingest``), ``connections`` (WebSocket ``$connect``,
``$disconnect``, ``$default``), ``broadcast`` (the events and connections streams to
``post_to_connection``), ``etl`` (the events stream to Snowflake) and ``sentinel`` (one round
per EventBridge tick). ``runtime`` holds what they share within one warm container.
"""
