"""CloudWatch metrics for EC2 instances: CPU from ``AWS/EC2``, memory from the CloudWatch agent.

``GetMetricData`` takes at most 500 queries a call, and answers a large one in pages
(``NextToken``). Memory exists only where the agent publishes ``CWAgent mem_used_percent``;
its dimensions depend on the agent's config, so they are found with ``ListMetrics`` rather
than guessed. The functions here are blocking: the provider runs them in threads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nephos.model import MetricPoint

__all__ = [
    "MAX_QUERIES_PER_CALL",
    "MetricQuery",
    "agent_memory_dimensions",
    "batch_queries",
    "fetch_region_metrics",
    "metric_period",
    "metric_queries",
    "run_queries",
]

MAX_QUERIES_PER_CALL = 500
"""GetMetricData's limit on ``MetricDataQueries`` per call."""

CPU = ("AWS/EC2", "CPUUtilization", "cpu_percent")
MEMORY = ("CWAgent", "mem_used_percent", "mem_percent")

MetricQuery = dict[str, Any]
"""One entry of ``MetricDataQueries``."""


def metric_period(start: datetime, end: datetime) -> int:
    """The query period in seconds: CloudWatch keeps 1-minute points for 15 days, 5-minute
    points for 63, hourly after that; a period finer than the data only costs points."""
    window = end - start
    if window <= timedelta(hours=3):
        return 60
    if window <= timedelta(days=15):
        return 300
    return 3600


def agent_memory_dimensions(
    client: Any, instance_ids: Collection[str]
) -> dict[str, list[dict[str, str]]]:
    """The dimensions under which the CloudWatch agent publishes each instance's memory.

    Instances without the agent are absent from the result.
    """
    wanted = set(instance_ids)
    found: dict[str, list[dict[str, str]]] = {}
    paginator = client.get_paginator("list_metrics")
    for page in paginator.paginate(Namespace=MEMORY[0], MetricName=MEMORY[1]):
        for metric in page.get("Metrics", []):
            dimensions = [
                {"Name": str(d["Name"]), "Value": str(d["Value"])}
                for d in metric.get("Dimensions", [])
            ]
            instance = next((d["Value"] for d in dimensions if d["Name"] == "InstanceId"), None)
            # One series per instance: the first found (agents rarely publish two).
            if instance in wanted and instance not in found:
                found[instance] = dimensions
    return found


def metric_queries(
    instance_ids: Sequence[str],
    memory_dimensions: Mapping[str, list[dict[str, str]]],
    *,
    period: int,
) -> tuple[list[MetricQuery], dict[str, tuple[str, str]]]:
    """A CPU query per instance and a memory query per instance that has agent memory.

    Returns:
        The queries, and for each query id the ``(instance id, metric name)`` it answers.
    """
    queries: list[MetricQuery] = []
    index: dict[str, tuple[str, str]] = {}
    for number, instance in enumerate(instance_ids):
        series = [("c", CPU, [{"Name": "InstanceId", "Value": instance}])]
        if instance in memory_dimensions:
            series.append(("m", MEMORY, memory_dimensions[instance]))
        for prefix, (namespace, name, metric), dimensions in series:
            query_id = f"{prefix}{number}"  # ids must start with a lower-case letter
            queries.append(
                {
                    "Id": query_id,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": namespace,
                            "MetricName": name,
                            "Dimensions": dimensions,
                        },
                        "Period": period,
                        "Stat": "Average",
                    },
                    "ReturnData": True,
                }
            )
            index[query_id] = (instance, metric)
    return queries, index


def batch_queries(
    queries: Sequence[MetricQuery], size: int = MAX_QUERIES_PER_CALL
) -> list[list[MetricQuery]]:
    """``queries`` split into calls of at most ``size``, in order."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [list(queries[start : start + size]) for start in range(0, len(queries), size)]


def run_queries(
    client: Any, queries: Sequence[MetricQuery], *, start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """Every ``(timestamp, value)`` of every query, oldest first, across batches and pages."""
    out: dict[str, list[tuple[datetime, float]]] = {}
    for batch in batch_queries(queries):
        token: str | None = None
        seen: set[str] = set()
        while True:
            request: dict[str, Any] = {
                "MetricDataQueries": batch,
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            }
            if token:
                request["NextToken"] = token
            answer = client.get_metric_data(**request)
            for result in answer.get("MetricDataResults", []):
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                out.setdefault(result["Id"], []).extend(pairs)
            token = answer.get("NextToken")
            if not token or token in seen:  # a repeating token would loop forever
                break
            seen.add(token)
    for points in out.values():
        points.sort(key=lambda pair: pair[0])
    return out


def fetch_region_metrics(
    client: Any, instance_ids: Iterable[str], *, start: datetime, end: datetime
) -> list[MetricPoint]:
    """CPU and agent memory points (percent) of ``instance_ids`` in one region.

    Raises:
        botocore.exceptions.ClientError: and the other botocore errors; the provider maps them.
    """
    ids = list(dict.fromkeys(instance_ids))
    if not ids:
        return []
    memory = agent_memory_dimensions(client, ids)
    queries, index = metric_queries(ids, memory, period=metric_period(start, end))
    values = run_queries(client, queries, start=start, end=end)
    points: list[MetricPoint] = []
    for query_id, pairs in values.items():
        if query_id not in index:
            continue
        instance, metric = index[query_id]
        points.extend(
            MetricPoint(
                instance=instance,
                metric=metric,
                unit="percent",
                ts=ts.astimezone(UTC),
                value=float(value),
                provider="aws",
            )
            for ts, value in pairs
        )
    return points
