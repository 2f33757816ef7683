"""The DynamoDB hot store's tables: their key schemas, creation on open, and item encoding.

Kept apart from ``dynamodb.py`` so that the store reads as behaviour and this file as data.
Items carry the written object's JSON in ``data`` (exactly what ``to_dict`` gives, so events
and reads decode with :func:`nephos.model.from_dict`), plus the key and filter attributes.
Times are integer microseconds since the epoch (``ts_us``); ``expires_at`` is epoch seconds,
the attribute the tables' TTL is configured on.
"""

from __future__ import annotations

import json
from typing import Any

from nephos.errors import StoreError
from nephos.store.dynamodb_client import DynamoOptions, error_code, map_dynamo_error

__all__ = [
    "ROLES",
    "TTL_ATTRIBUTE",
    "alert_item",
    "check_tables",
    "create_tables",
    "instance_item",
    "latest_item",
    "metric_item",
    "result_item",
    "series_key",
    "sort_key",
]

TTL_ATTRIBUTE = "expires_at"

_S, _N = "S", "N"
# role -> ((attribute, type) of the partition key, and of the sort key if any), has a stream
_SCHEMAS: dict[str, tuple[tuple[tuple[str, str], ...], bool]] = {
    # results, their newest-per-target copies ("latest") and metric points share one table
    "results": ((("pk", _S), ("sk", _S)), True),
    "alerts": ((("id", _S),), True),
    "instances": ((("provider", _S), ("id", _S)), True),
    # small JSON values and the change feed's counter item; no stream (counter churn)
    "state": ((("key", _S),), False),
    # the change feed: partition = seq // BUCKET_SIZE, sort = seq
    "events": ((("bucket", _N), ("seq", _N)), True),
}
ROLES: tuple[str, ...] = tuple(_SCHEMAS)
"""The table roles; each table is named ``table_prefix + role``."""


def create_tables(client: Any, options: DynamoOptions) -> None:
    """Create the tables that do not exist (on-demand, Streams NEW_IMAGE, TTL on
    ``expires_at``) and wait until they are active.

    Raises:
        StoreError: a table cannot be created or described (StoreUnavailable when throttled
            or unreachable).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    for role, (keys, stream) in _SCHEMAS.items():
        name = options.table(role)
        try:
            try:
                client.describe_table(TableName=name)
                exists = True
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                exists = False
            if not exists:
                spec: dict[str, Any] = {
                    "TableName": name,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": a, "AttributeType": t} for a, t in keys
                    ],
                    "KeySchema": [
                        {"AttributeName": a, "KeyType": "HASH" if i == 0 else "RANGE"}
                        for i, (a, _) in enumerate(keys)
                    ],
                }
                if stream:
                    spec["StreamSpecification"] = {
                        "StreamEnabled": True,
                        "StreamViewType": "NEW_IMAGE",
                    }
                client.create_table(**spec)
                client.get_waiter("table_exists").wait(
                    TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
                )
            ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            # AWS refuses to enable TTL twice, and CloudFormation on moto leaves it disabled.
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
                )
        except (BotoCoreError, ClientError) as exc:
            raise map_dynamo_error(exc, options.where, f"create table {name}") from exc


def check_tables(client: Any, options: DynamoOptions) -> None:
    """Check that every table exists.

    Raises:
        StoreError: a table is missing (the message says how to create it).
        botocore.exceptions.ClientError: any other failure (mapped by the caller).
    """
    for role in ROLES:
        name = options.table(role)
        try:
            client.describe_table(TableName=name)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise StoreError(
                    f"{options.where}: table {name} does not exist (deploy the stack, "
                    "or set storage.hot.create_tables: true)"
                ) from exc
            raise


def sort_key(ts_us: int, seq: int) -> str:
    """The sort key of a result or a metric point: time first, then the seq that wrote it
    (two points of one series at one instant stay two items)."""
    return f"{ts_us:020d}#{seq:020d}"


def series_key(instance: str, metric: str) -> str:
    """The partition key of a metric series; JSON keeps any character in the names apart."""
    return "metric#" + json.dumps([instance, metric], ensure_ascii=False)


def _n(value: int | float) -> dict[str, str]:
    return {_N: str(value)}


def result_item(target: str, ts_us: int, seq: int, payload: str, expires_at: int) -> dict[str, Any]:
    """A stored check result."""
    return {
        "pk": {_S: "result#" + target},
        "sk": {_S: sort_key(ts_us, seq)},
        "item": {_S: "result"},
        "ts_us": _n(ts_us),
        "data": {_S: payload},
        TTL_ATTRIBUTE: _n(expires_at),
    }


def latest_item(target: str, ts_us: int, payload: str, expires_at: int) -> dict[str, Any]:
    """The newest result of one target, one item per target under the ``latest`` partition."""
    return {
        "pk": {_S: "latest"},
        "sk": {_S: target},
        "item": {_S: "latest"},
        "ts_us": _n(ts_us),
        "data": {_S: payload},
        TTL_ATTRIBUTE: _n(expires_at),
    }


def metric_item(
    instance: str, metric: str, ts_us: int, seq: int, payload: str, expires_at: int
) -> dict[str, Any]:
    """A stored metric point."""
    return {
        "pk": {_S: series_key(instance, metric)},
        "sk": {_S: sort_key(ts_us, seq)},
        "item": {_S: "metric"},
        "instance": {_S: instance},
        "metric": {_S: metric},
        "ts_us": _n(ts_us),
        "data": {_S: payload},
        TTL_ATTRIBUTE: _n(expires_at),
    }


def alert_item(
    *,
    alert_id: str,
    dedup_key: str,
    state: str,
    started_us: int,
    ended_us: int,
    version: int,
    payload: str,
    expires_at: int | None,
) -> dict[str, Any]:
    """A stored alert; ``expires_at`` only for resolved alerts (open ones never expire)."""
    item: dict[str, Any] = {
        "id": {_S: alert_id},
        "dedup_key": {_S: dedup_key},
        "state": {_S: state},
        "started_us": _n(started_us),
        "ended_us": _n(ended_us),
        "version": _n(version),
        "data": {_S: payload},
    }
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = _n(expires_at)
    return item


def instance_item(provider: str, instance_id: str, payload: str) -> dict[str, Any]:
    """A stored instance (no TTL: SQLite keeps instances until they are replaced too)."""
    return {"provider": {_S: provider}, "id": {_S: instance_id}, "data": {_S: payload}}
