"""The Azure provider: every VM of a subscription with its power state, and Azure Monitor metrics.

Two paged ARM calls (the VM models, and ``statusOnly=true`` for their instance views) are
merged on the lower-cased resource id, since ARM echoes whatever casing a resource was created
with. Tokens come from azure-identity's ``DefaultAzureCredential`` (its blocking ``get_token``
runs in a thread) or from an injected credential. NIC and public-IP joins are not done here:
Azure instances carry no IP addresses yet.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from nephos.clock import Clock
from nephos.errors import ProviderError
from nephos.model import Instance, InstanceState, MetricPoint, parse_time
from nephos.providers.base import Provider
from nephos.providers.http_client import ApiClient, RetryPolicy, seconds
from nephos.providers.options import OptionReader

__all__ = ["AzureProvider", "azure_state"]

DEFAULT_BASE_URL = "https://management.azure.com"
DEFAULT_API_VERSION = "2024-07-01"
DEFAULT_METRICS_API_VERSION = "2023-10-01"
SCOPE = "https://management.azure.com/.default"
_TOKEN_MARGIN = 300.0  # refresh a token this many seconds before it expires
_OPTIONS = (
    "subscription_id",
    "base_url",
    "access_token",
    "api_version",
    "metrics_api_version",
    "timeout",
    "max_attempts",
    "metrics_concurrency",
)
_POWER: dict[str, tuple[InstanceState, str | None]] = {
    "starting": (InstanceState.PENDING, None),
    "running": (InstanceState.RUNNING, None),
    "stopping": (InstanceState.STOPPING, None),
    "deallocating": (InstanceState.STOPPING, "deallocating"),
    "stopped": (InstanceState.STOPPED, "stopped"),  # still billed
    "deallocated": (InstanceState.STOPPED, "deallocated"),  # not billed
}
_PROVISIONING: dict[str, tuple[InstanceState, str | None]] = {
    "creating": (InstanceState.PENDING, None),
    "updating": (InstanceState.MAINTENANCE, "updating"),
    "deleting": (InstanceState.TERMINATING, None),
}
_METRICS = {"Percentage CPU": "cpu_percent", "Available Memory Percentage": "mem_percent"}


def azure_state(power: str | None, provisioning: str | None) -> tuple[InstanceState, str | None]:
    """The normalised state and substate from ``PowerState/*`` and ``ProvisioningState/*``.

    A failed provisioning is ERROR whatever the power state says; otherwise the power state
    wins when present; without one, ``creating``, ``updating`` and ``deleting`` still say
    something. Everything else (including ``PowerState/unknown``) is UNKNOWN.
    """
    prov = (provisioning or "").lower()
    if prov.split("/", 1)[0] == "failed":
        return InstanceState.ERROR, prov.partition("/")[2] or None
    if power:
        return _POWER.get(power.lower(), (InstanceState.UNKNOWN, None))
    return _PROVISIONING.get(prov, (InstanceState.UNKNOWN, None))


class AzureProvider(Provider):
    """Azure virtual machines of one subscription, with CPU and memory from Azure Monitor.

    Options (``providers.azure``): ``subscription_id`` (required), ``base_url``,
    ``access_token`` (a fixed bearer token, for the cloud simulator; leave it unset to use
    azure-identity),
    ``api_version`` (Microsoft.Compute, default 2024-07-01), ``metrics_api_version``
    (default 2023-10-01), ``timeout`` (default 30s), ``max_attempts`` (default 5) and
    ``metrics_concurrency`` (parallel metrics calls, default 8).

    Args:
        options: the options, as :meth:`validate_options` returns them.
        clock: waits between retries and token expiry go through it.
        rng: draws the retry jitter.
        credential: any object whose ``get_token(scope)`` returns something with ``.token``
            and ``.expires_on`` (epoch seconds); None for ``DefaultAzureCredential``.
        transport: an httpx transport for tests; None for the network.
    """

    name: ClassVar[str] = "azure"
    supports_metrics: ClassVar[bool] = True

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        clock: Clock,
        rng: random.Random | None = None,
        credential: Any = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(options, clock=clock)
        subscription = str(options.get("subscription_id") or "")
        if not subscription:
            raise ProviderError("azure: no subscription_id configured")
        self._subscription = subscription
        self._credential = credential
        static = str(options.get("access_token") or "")
        self._token_value: tuple[str, float] | None = (static, float("inf")) if static else None
        self._token_lock = asyncio.Lock()
        self._api_version = str(options.get("api_version") or DEFAULT_API_VERSION)
        self._metrics_version = str(
            options.get("metrics_api_version") or DEFAULT_METRICS_API_VERSION
        )
        self._concurrency = int(options.get("metrics_concurrency") or 8)
        self._api = ApiClient(
            "azure",
            str(options.get("base_url") or DEFAULT_BASE_URL),
            clock=clock,
            rng=rng,
            token=self._token,
            auth_hint="check the Azure credentials and the Reader role on the subscription",
            retry=RetryPolicy(attempts=int(options.get("max_attempts") or 5)),
            timeout=seconds(options.get("timeout"), 30.0),
            transport=transport,
        )

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``providers.azure`` and fill in defaults.

        Raises:
            ConfigError: a key is unknown, ``subscription_id`` is missing, or a value is invalid.
        """
        reader = OptionReader(options, _OPTIONS)
        return {
            "subscription_id": reader.text("subscription_id", required=True),
            "base_url": reader.url("base_url", DEFAULT_BASE_URL),
            "access_token": reader.text("access_token", secret=True),
            "api_version": reader.text("api_version", DEFAULT_API_VERSION),
            "metrics_api_version": reader.text("metrics_api_version", DEFAULT_METRICS_API_VERSION),
            "timeout": reader.duration("timeout", timedelta(seconds=30), minimum=timedelta(0)),
            "max_attempts": reader.integer("max_attempts", 5, minimum=1, maximum=10),
            "metrics_concurrency": reader.integer("metrics_concurrency", 8, minimum=1, maximum=50),
        }

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._api.aclose()

    async def _token(self) -> str:
        """A valid ARM token, fetched again shortly before it expires."""
        async with self._token_lock:
            now = self.clock.now().timestamp()
            if self._token_value is None or self._token_value[1] - _TOKEN_MARGIN <= now:
                access = await asyncio.to_thread(self._get_token)
                self._token_value = (str(access.token), float(access.expires_on))
            return self._token_value[0]

    def _get_token(self) -> Any:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            if self._credential is None:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
            return self._credential.get_token(SCOPE)
        except ClientAuthenticationError as exc:
            raise ProviderError(
                "azure: no usable credentials: run `az login` or set AZURE_TENANT_ID, "
                "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
            ) from exc

    async def list_instances(self) -> list[Instance]:
        """Every VM of the subscription, merged with its power state.

        Raises:
            ProviderError: an ARM call failed, a ``nextLink`` pointed elsewhere, or the
                answer was not a list of VMs.
        """
        path = f"/subscriptions/{self._subscription}/providers/Microsoft.Compute/virtualMachines"
        models, views = await asyncio.gather(
            self._pages(path, {"api-version": self._api_version}),
            self._pages(path, {"api-version": self._api_version, "statusOnly": "true"}),
        )
        statuses: dict[str, list[str]] = {}
        for view in views:
            codes = _status_codes(view)
            if codes is not None:
                statuses[str(view.get("id", "")).lower()] = codes
        now = self.clock.now()
        return [
            _instance(vm, statuses.get(str(vm.get("id", "")).lower()), self._subscription, now)
            for vm in models
        ]

    async def _pages(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = path
        query: Mapping[str, Any] | None = params
        seen: set[str] = set()
        while url:
            page = await self._api.get_json(url, query)
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise ProviderError("azure: the VM list answered without a value list")
            items.extend(v for v in page["value"] if isinstance(v, dict))
            url = page.get("nextLink") or None
            query = None  # a nextLink carries its own query string
            if url is not None:
                if not self._api.same_origin(url):
                    raise ProviderError("azure: a nextLink pointed outside the configured base_url")
                if url in seen:
                    break  # a repeating link would page forever
                seen.add(url)
        return items

    async def fetch_metrics(
        self, instances: Sequence[Instance], *, start: datetime, end: datetime
    ) -> list[MetricPoint]:
        """``cpu_percent`` and ``mem_percent`` (100 - Available Memory Percentage) per VM.

        One Azure Monitor call per VM, ``metrics_concurrency`` at a time, 5-minute averages.

        Raises:
            ProviderError: a metrics call failed.
        """
        gate = asyncio.Semaphore(self._concurrency)
        params = {
            "api-version": self._metrics_version,
            "metricnames": ",".join(_METRICS),
            "timespan": f"{_iso(start)}/{_iso(end)}",
            "interval": "PT5M",
            "aggregation": "Average",
        }

        async def one(instance: Instance) -> list[MetricPoint]:
            async with gate:
                body = await self._api.get_json(
                    f"{instance.id}/providers/Microsoft.Insights/metrics", params
                )
            return _metric_points(instance.id, body)

        mine = [i for i in instances if i.provider == self.name and i.id.startswith("/")]
        results = await asyncio.gather(*(one(i) for i in mine))
        return [point for points in results for point in points]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one: wire data may omit anything."""
    return value if isinstance(value, dict) else {}


def _status_codes(view: Mapping[str, Any]) -> list[str] | None:
    """The ``code`` of every instance-view status, or None when the view has none."""
    statuses = _mapping(_mapping(view.get("properties")).get("instanceView")).get("statuses")
    if not isinstance(statuses, list):
        return None
    return [str(s["code"]) for s in statuses if isinstance(s, dict) and s.get("code")]


def _instance(
    vm: Mapping[str, Any], codes: list[str] | None, subscription: str, now: datetime
) -> Instance:
    properties = _mapping(vm.get("properties"))
    power = provisioning = None
    for code in codes or []:
        kind, _, value = code.partition("/")
        if kind == "PowerState":
            power = value
        elif kind == "ProvisioningState":
            provisioning = value
    if provisioning is None and properties.get("provisioningState"):
        provisioning = str(properties["provisioningState"])
    state, substate = azure_state(power, provisioning)
    raw = [f"PowerState/{power}"] if power else []
    raw += [f"ProvisioningState/{provisioning}"] if provisioning else []
    size = _mapping(properties.get("hardwareProfile")).get("vmSize")
    zones = vm.get("zones")
    tags = vm.get("tags")
    created = properties.get("timeCreated")
    try:
        created_at = parse_time(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    return Instance(
        provider="azure",
        id=str(vm.get("id") or ""),
        name=str(vm.get("name") or vm.get("id") or ""),
        state=state,
        raw_state=",".join(raw),
        substate=substate,
        account=subscription,
        region=str(vm.get("location") or "") or None,
        zone=str(zones[0]) if isinstance(zones, list) and zones else None,
        size=str(size) if size else None,
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        created_at=created_at,
        updated_at=now,
    )


def _metric_points(instance_id: str, body: Any) -> list[MetricPoint]:
    points: list[MetricPoint] = []
    for metric in _mapping(body).get("value") or []:
        name = _mapping(_mapping(metric).get("name")).get("value")
        ours = _METRICS.get(name) if isinstance(name, str) else None
        if ours is None:
            continue
        for series in metric.get("timeseries") or []:
            for datum in _mapping(series).get("data") or []:
                average = _mapping(datum).get("average")
                if not isinstance(average, int | float) or "timeStamp" not in datum:
                    continue  # no data in that interval (a stopped VM, a metric lag)
                value = 100.0 - average if ours == "mem_percent" else float(average)
                ts = parse_time(str(datum["timeStamp"]))
                points.append(MetricPoint(instance_id, ours, "percent", ts, value, "azure"))
    return points
