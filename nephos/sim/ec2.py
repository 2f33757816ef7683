"""A simulated AWS EC2 and CloudWatch on loopback, answering the calls the AWS provider makes.

:class:`Ec2Sim` serves the ``aws`` instances of a :class:`~nephos.sim.cloud_fleet.CloudFleet`
(the fleet that :class:`~nephos.sim.clouds.CloudSim` serves for the other clouds) to boto3
pointed at it with ``endpoint_url`` and any credentials:

- EC2 (``ec2`` protocol: a form body, XML answers): ``DescribeInstances`` (one reservation per
  instance, ``MaxResults``/``NextToken``), ``DescribeInstanceStatus`` (``IncludeAllInstances``,
  paging) and ``DescribeInstanceTypes`` (the sizes the fleet uses);
- CloudWatch (``json``, i.e. awsJson1_0, which botocore 1.44 picks; ``smithy-rpc-v2-cbor``
  too, which the model lists first and other SDKs may pick): ``GetMetricData``
  (``AWS/EC2 CPUUtilization`` and ``CWAgent mem_used_percent`` from each instance's
  ``cpu_percent``/``mem_percent`` functions) and ``ListMetrics``.

The region of a request is read from its SigV4 credential scope. For AWS instances,
``CloudInstance.region`` is a region (``us-east-1``, zone ``a``) or a zone (``eu-west-1b``);
``size`` is the instance type; ``raw`` may set ``ec2_state``, ``reason``, ``system_status`` and
``instance_status``. The fleet may change while the server runs. This stands in for moto in
the inventory benchmark and the demo: it answers in milliseconds what moto answers in seconds.
Not simulated: signatures (any keys are accepted), ``Filter.N`` parameters, GetMetricData
paging (each call is answered whole), and terminated instances lingering in listings.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from nephos.clock import Clock, SystemClock
from nephos.model import InstanceState
from nephos.sim import ec2_shapes as shapes
from nephos.sim.cloud_fleet import CloudFleet, CloudInstance
from nephos.sim.ec2_cbor import CborError, decode, encode
from nephos.sim.http_server import HttpSim

__all__ = ["CLOUDWATCH_METRICS", "Ec2Sim"]

CLOUDWATCH_METRICS = {
    ("AWS/EC2", "CPUUtilization"): "cpu_percent",
    ("CWAgent", "mem_used_percent"): "mem_percent",
}
"""CloudWatch (namespace, metric name) -> the fleet metric that answers it."""

_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/")
_CBOR_PATH = re.compile(r"/service/[^/]+/operation/([A-Za-z]+)")
_CW_TARGET = "GraniteServiceVersion20100801."  # CloudWatch's awsJson1_0 target prefix
_MAX_POINTS = 1440  # per series and call; CloudWatch's own cap is far higher, none is needed


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"nephos-sim:{offset}".encode()).decode()


class _BadRequest(Exception):
    """An invalid parameter: answered 400 in the protocol's error shape."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _epoch(value: object) -> float:
    """JSON's timestamps: epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _from_json(body: bytes) -> Any:
    """An awsJson1_0 body, with the timestamp members as aware datetimes."""
    params = json.loads(body)
    if isinstance(params, dict):
        for key in ("StartTime", "EndTime"):
            if isinstance(params.get(key), int | float):
                params[key] = datetime.fromtimestamp(params[key], UTC)
    return params


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(token).decode().split(":", 1)[1]))
    except (ValueError, IndexError) as exc:
        raise _BadRequest("InvalidParameterValue", f"invalid NextToken {token!r}") from exc


def _page_size(form: Mapping[str, str], default: int) -> int:
    raw = form.get("MaxResults")
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError as exc:
        raise _BadRequest("InvalidParameterValue", "MaxResults must be an integer") from exc
    if not 5 <= size <= 1000:
        raise _BadRequest("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    return size


class Ec2Sim:
    """Loopback EC2 and CloudWatch over the ``aws`` instances of one :class:`CloudFleet`.

    Use as ``async with Ec2Sim(fleet) as sim:`` or :meth:`start`/:meth:`stop`; point the AWS
    provider at it with :meth:`provider_options`. ``calls`` counts the actions answered.

    Args:
        fleet: the instances; only those with ``provider == "aws"`` are served.
        clock: the time of metric points (none later than now).
        host: the loopback address to bind.
        account_id: the reservations' ``ownerId``.
    """

    def __init__(
        self,
        fleet: CloudFleet,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        account_id: str = "123456789012",
    ) -> None:
        self.fleet = fleet
        self.clock: Clock = clock or SystemClock()
        self.account_id = account_id
        self.calls: Counter[str] = Counter()
        self._http = HttpSim(host=host, clock=self.clock, fallback=self._handle)

    async def start(self) -> str:
        """Start serving; return the endpoint URL.

        Raises:
            OSError: the port cannot be bound.
        """
        await self._http.start()
        return self.endpoint_url

    async def stop(self) -> None:
        """Stop serving."""
        await self._http.stop()

    async def __aenter__(self) -> Ec2Sim:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def endpoint_url(self) -> str:
        """The base URL boto3 takes as ``endpoint_url`` (EC2 and CloudWatch alike)."""
        return self._http.base_url

    def provider_options(self, regions: list[str] | None = None) -> dict[str, Any]:
        """Raw ``providers.aws`` options for this server: ``regions`` (default: every region
        of the fleet's AWS instances) and the endpoint. Credentials come from the environment:
        set fake ones (any value signs requests this server accepts)."""
        found = sorted({shapes.region_of(i) for i in self.fleet.of("aws")}) or ["us-east-1"]
        return {"regions": list(regions or found), "endpoint_url": self.endpoint_url}

    def _instances(self, region: str) -> list[CloudInstance]:
        return [i for i in self.fleet.of("aws") if shapes.region_of(i) == region]

    # ------------------------------------------------------------------ dispatch

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        scope = _SCOPE.search(request.headers.get("Authorization", ""))
        region = scope.group(1) if scope else "us-east-1"
        operation = _CBOR_PATH.fullmatch(request.path)
        if operation is not None:
            return await self._cloudwatch(operation.group(1), request, region, cbor=True)
        target = request.headers.get("X-Amz-Target", "")
        if target.startswith(_CW_TARGET):
            return await self._cloudwatch(target[len(_CW_TARGET) :], request, region, cbor=False)
        form = {k: str(v) for k, v in (await request.post()).items()}
        action = form.get("Action", "")
        request_id = str(uuid.uuid4())
        handler = {
            "DescribeInstances": self._describe_instances,
            "DescribeInstanceStatus": self._describe_instance_status,
            "DescribeInstanceTypes": self._describe_instance_types,
        }.get(action)
        try:
            if handler is None:
                raise _BadRequest("InvalidAction", f"The action {action!r} is not valid")
            self.calls[action] += 1
            body = shapes.response_xml(action, request_id, handler(form, region))
        except _BadRequest as exc:
            return web.Response(
                status=400,
                text=shapes.error_xml(exc.code, str(exc), request_id),
                content_type="text/xml",
            )
        return web.Response(text=body, content_type="text/xml")

    # ------------------------------------------------------------------ EC2

    def _page(
        self, form: Mapping[str, str], items: list[CloudInstance], default: int
    ) -> tuple[list[CloudInstance], list[str]]:
        """One page of ``items`` and the ``nextToken`` element, if more follow."""
        size = _page_size(form, default)
        start = _offset(form.get("NextToken"))
        page = items[start : start + size]
        more = start + size < len(items)
        return page, [f"<nextToken>{_token(start + size)}</nextToken>"] if more else []

    def _describe_instances(self, form: Mapping[str, str], region: str) -> list[str]:
        wanted = {v for k, v in form.items() if k.startswith("InstanceId.")}
        items = [i for i in self._instances(region) if not wanted or i.id in wanted]
        page, token = self._page(form, items, default=len(items) or 1)
        reservations = "".join(
            f"<item><reservationId>r-{i.id.removeprefix('i-')}</reservationId>"
            f"<ownerId>{self.account_id}</ownerId><groupSet/>"
            f"<instancesSet>{shapes.instance_xml(i)}</instancesSet></item>"
            for i in page
        )
        return [f"<reservationSet>{reservations}</reservationSet>", *token]

    def _describe_instance_status(self, form: Mapping[str, str], region: str) -> list[str]:
        everything = form.get("IncludeAllInstances", "false").lower() == "true"
        items = [
            i for i in self._instances(region) if everything or i.state is InstanceState.RUNNING
        ]
        page, token = self._page(form, items, default=1000)
        statuses = "".join(shapes.instance_status_xml(i) for i in page)
        return [f"<instanceStatusSet>{statuses}</instanceStatusSet>", *token]

    def _describe_instance_types(self, form: Mapping[str, str], region: str) -> list[str]:
        known: dict[str, tuple[int, int]] = {}
        for instance in self.fleet.of("aws"):
            known.setdefault(instance.size, (instance.vcpus, instance.memory_mb))
        names = [v for k, v in sorted(form.items()) if k.startswith("InstanceType.")]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise _BadRequest(
                "InvalidInstanceType", f"The following supplied instance types do not exist: "
                f"[{', '.join(unknown)}]"
            )  # fmt: skip
        chosen = names or sorted(known)
        items = "".join(shapes.instance_type_xml(n, *known[n]) for n in chosen)
        return [f"<instanceTypeSet>{items}</instanceTypeSet>"]

    # ------------------------------------------------------------------ CloudWatch

    async def _cloudwatch(
        self, operation: str, request: web.Request, region: str, *, cbor: bool
    ) -> web.StreamResponse:
        """A CloudWatch call in ``smithy-rpc-v2-cbor`` or ``json`` (awsJson1_0), as sent."""
        headers = {"x-amzn-requestid": str(uuid.uuid4())}
        if cbor:
            headers["smithy-protocol"] = "rpc-v2-cbor"
        content_type = "application/cbor" if cbor else "application/x-amz-json-1.0"
        status = 200
        try:
            body = await request.read()
            params = (decode(body) if cbor else _from_json(body)) if body else {}
            if not isinstance(params, dict):
                raise _BadRequest("InvalidParameterValue", "the body is not a map")
            if operation == "GetMetricData":
                answer = self._get_metric_data(params, region)
            elif operation == "ListMetrics":
                answer = self._list_metrics(params, region)
            else:
                raise _BadRequest("InvalidAction", f"{operation} is not simulated")
            self.calls[operation] += 1
        except (_BadRequest, CborError, ValueError) as exc:
            code = exc.code if isinstance(exc, _BadRequest) else "SerializationException"
            answer = {"__type": f"com.amazonaws.cloudwatch#{code}", "message": str(exc)}
            status = 400
        data = encode(answer) if cbor else json.dumps(answer, default=_epoch).encode()
        return web.Response(status=status, body=data, headers=headers, content_type=content_type)

    def _series(self, metric: Mapping[str, Any], region: str) -> tuple[CloudInstance, str] | None:
        """The running instance and fleet metric that ``metric`` names, if there is one."""
        key = (str(metric.get("Namespace", "")), str(metric.get("MetricName", "")))
        name = CLOUDWATCH_METRICS.get(key)
        dims = {d.get("Name"): d.get("Value") for d in metric.get("Dimensions") or []}
        for instance in self._instances(region):
            if instance.id == dims.get("InstanceId"):
                running = instance.state is InstanceState.RUNNING
                return (instance, name) if running and name in instance.metrics else None
        return None

    def _get_metric_data(self, params: Mapping[str, Any], region: str) -> dict[str, Any]:
        start, end = params.get("StartTime"), params.get("EndTime")
        if not isinstance(start, datetime) or not isinstance(end, datetime):
            raise _BadRequest("InvalidParameterValue", "StartTime and EndTime are required")
        queries = params.get("MetricDataQueries") or []
        if not 1 <= len(queries) <= 500:
            raise _BadRequest("InvalidParameterValue", "1 to 500 MetricDataQueries a call")
        end = min(end, self.clock.now())
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        for query in queries:
            stat = query.get("MetricStat") or {}
            metric = stat.get("Metric") or {}
            period = int(stat.get("Period") or 60)
            series = self._series(metric, region)
            times: list[datetime] = []
            if series is not None and period > 0:
                # CloudWatch rounds an unaligned start down to the period: a window shorter
                # than the period still gets the point of the bucket it falls in.
                epoch = int(start.timestamp())
                at = datetime.fromtimestamp(epoch - epoch % period, UTC)
                while at < end and len(times) < _MAX_POINTS:
                    times.append(at)
                    at += timedelta(seconds=period)
            if descending:
                times.reverse()
            results.append(
                {
                    "Id": query.get("Id", ""),
                    "Label": metric.get("MetricName", ""),
                    "Timestamps": times,
                    "Values": [series[0].metric(series[1], t) for t in times] if series else [],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    def _list_metrics(self, params: Mapping[str, Any], region: str) -> dict[str, Any]:
        metrics = []
        for (namespace, metric_name), name in CLOUDWATCH_METRICS.items():
            if params.get("Namespace") not in (None, namespace):
                continue
            if params.get("MetricName") not in (None, metric_name):
                continue
            for instance in self._instances(region):
                if name not in instance.metrics:
                    continue
                dims = [{"Name": "InstanceId", "Value": instance.id}]
                if namespace == "CWAgent":  # the agent's default append_dimensions
                    dims += [
                        {"Name": "ImageId", "Value": "ami-0nephos0sim0000"},
                        {"Name": "InstanceType", "Value": instance.size},
                    ]
                metrics.append({"Namespace": namespace, "MetricName": metric_name,
                                "Dimensions": dims})  # fmt: skip
        return {"Metrics": metrics}
