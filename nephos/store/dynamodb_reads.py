"""The DynamoDB hot store's table reads, state writes and row purges (blocking; run in threads).

Every read is strongly consistent and drops items whose ``expires_at`` has passed: DynamoDB's
TTL deletes lazily, so an expired item may still be there. One target's results and one
metric series are Queries on their partition; reads across partitions (all targets, all
series, alerts, instances) are Scans, which suit a hot store bounded by its retention.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nephos.store.dynamodb_client import DynamoOptions
from nephos.store.dynamodb_tables import TTL_ATTRIBUTE, series_key, sort_key

__all__ = ["TableReader", "live"]


def live(item: dict[str, Any], now_s: int) -> bool:
    """Whether ``item`` has not expired at ``now_s`` (items without ``expires_at`` never do)."""
    expiry = item.get(TTL_ATTRIBUTE)
    return expiry is None or int(expiry["N"]) > now_s


class TableReader:
    """Reads and small writes over the results, alerts, instances and state tables."""

    def __init__(self, client: Any, options: DynamoOptions) -> None:
        self._client = client
        self._results = options.table("results")
        self._alerts = options.table("alerts")
        self._instances = options.table("instances")
        self._state = options.table("state")

    def _pages(self, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated Query or Scan."""
        call = getattr(self._client, operation)
        while True:
            page = call(ConsistentRead=True, **request)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def latest(self, now_s: int) -> list[dict[str, Any]]:
        """The ``latest`` items (one per target), ordered by target."""
        items = self._pages(
            "query",
            TableName=self._results,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "latest"}},
        )
        return [i for i in items if live(i, now_s)]

    def series(
        self, item: str, key: Any, since_us: int | None, limit: int, now_s: int
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` result or metric items, newest first.

        ``key`` is a target (or None) for results, an (instance, metric) pair with either
        part None for metrics.
        """
        if limit <= 0:
            return []
        partition: str | None = None
        if item == "result" and key is not None:
            partition = "result#" + key
        elif item == "metric" and key[0] is not None and key[1] is not None:
            partition = series_key(key[0], key[1])
        if partition is not None:
            condition = "pk = :p"
            values: dict[str, Any] = {":p": {"S": partition}}
            if since_us is not None:
                condition += " AND sk >= :s"
                values[":s"] = {"S": sort_key(since_us, 0)}
            out: list[dict[str, Any]] = []
            for i in self._pages(
                "query",
                TableName=self._results,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
            ):
                if live(i, now_s):
                    out.append(i)
                    if len(out) >= limit:
                        break
            return out
        filters = ["#i = :i"]
        names = {"#i": "item"}
        values = {":i": {"S": item}}
        if since_us is not None:
            filters.append("ts_us >= :s")
            values[":s"] = {"N": str(since_us)}
        if item == "metric":
            for n, (attribute, wanted) in enumerate(zip(("instance", "metric"), key, strict=True)):
                if wanted is not None:
                    filters.append(f"#a{n} = :a{n}")
                    names[f"#a{n}"] = attribute
                    values[f":a{n}"] = {"S": wanted}
        scanned = self._pages(
            "scan",
            TableName=self._results,
            FilterExpression=" AND ".join(filters),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        found = [i for i in scanned if live(i, now_s)]
        found.sort(key=lambda i: i["sk"]["S"], reverse=True)  # time, then seq
        return found[:limit]

    def alert(self, alert_id: str, now_s: int) -> dict[str, Any] | None:
        """One alert item, or None when missing or expired."""
        item = self._client.get_item(
            TableName=self._alerts, Key={"id": {"S": alert_id}}, ConsistentRead=True
        ).get("Item")
        return item if item is not None and live(item, now_s) else None

    def alerts(
        self, states: list[str] | None, dedup_key: str | None, now_s: int
    ) -> list[dict[str, Any]]:
        """Alert items, most recently started first, filtered by state and dedup key."""
        items = [
            i
            for i in self._pages("scan", TableName=self._alerts)
            if live(i, now_s)
            and (states is None or i["state"]["S"] in states)
            and (dedup_key is None or i["dedup_key"]["S"] == dedup_key)
        ]
        items.sort(key=lambda i: (int(i["started_us"]["N"]), i["id"]["S"]), reverse=True)
        return items

    def instances(self) -> list[dict[str, Any]]:
        """Every instance item, ordered by provider and id."""
        items = list(self._pages("scan", TableName=self._instances))
        items.sort(key=lambda i: (i["provider"]["S"], i["id"]["S"]))
        return items

    def states(self, keys: list[str]) -> dict[str, str]:
        """The JSON text stored under each of ``keys`` that has a value."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self._state: {
                    "Keys": [{"key": {"S": k}} for k in keys[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                answer = self._client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._state, []):
                    if "value" in item:
                        found[item["key"]["S"]] = item["value"]["S"]
                request = answer.get("UnprocessedKeys") or {}
        return found

    def put_states(self, rows: list[tuple[str, str]]) -> None:
        """Store (key, JSON text) rows, 25 per BatchWriteItem.

        Not one transaction (DynamoDB's hold at most 100 items): each key's value is
        independent, and a failed call is retried whole by the caller.
        """
        for start in range(0, len(rows), 25):
            request: dict[str, Any] = {
                self._state: [
                    {"PutRequest": {"Item": {"key": {"S": key}, "value": {"S": text}}}}
                    for key, text in rows[start : start + 25]
                ]
            }
            while request:
                request = (
                    self._client.batch_write_item(RequestItems=request).get("UnprocessedItems")
                    or {}
                )

    def purge_rows(self, cutoff_us: int, resolved: str) -> int:
        """Delete results and metrics older than ``cutoff_us`` (and the latest results that
        old, uncounted) and resolved alerts that ended before it; the count."""
        old_rows = list(
            self._pages(
                "scan",
                TableName=self._results,
                FilterExpression="ts_us < :c",
                ExpressionAttributeValues={":c": {"N": str(cutoff_us)}},
                ProjectionExpression="pk, sk, #i",
                ExpressionAttributeNames={"#i": "item"},
            )
        )
        self._delete(self._results, [{"pk": i["pk"], "sk": i["sk"]} for i in old_rows])
        old_alerts = list(
            self._pages(
                "scan",
                TableName=self._alerts,
                FilterExpression="#s = :r AND ended_us < :c",
                ExpressionAttributeNames={"#s": "state"},
                ExpressionAttributeValues={
                    ":r": {"S": resolved},
                    ":c": {"N": str(cutoff_us)},
                },
                ProjectionExpression="id",
            )
        )
        self._delete(self._alerts, [{"id": i["id"]} for i in old_alerts])
        counted = sum(1 for i in old_rows if i["item"]["S"] != "latest")
        return counted + len(old_alerts)

    def _delete(self, table: str, keys: list[dict[str, Any]]) -> None:
        for start in range(0, len(keys), 25):
            request: dict[str, Any] = {
                table: [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
            }
            while request:
                request = (
                    self._client.batch_write_item(RequestItems=request).get("UnprocessedItems")
                    or {}
                )
