"""The Azure provider: every VM of a subscription with its power state, and Azure Monitor metrics.

Two paged ARM calls (the VM models, and ``statusOnly=true`` for their instance views) are
merged on the lower-cased resource id, since ARM echoes whatever casing a resource was created
with. Addresses come from the subscription's network interfaces and public IPs, vCPUs and
memory from each location's ``vmSizes`` (cached). Tokens come from azure-identity's
``DefaultAzureCredential`` (its blocking ``get_token`` runs in a thread) or from an injected
credential. Parsing lives in :mod:`nephos.providers.azure_parse`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from nephos.clock import Clock
from nephos.errors import ProviderError
from nephos.model import Instance, MetricPoint
from nephos.providers.azure_parse import (
    METRICS,
    Addresses,
    SizeShape,
    addresses_by_vm,
    azure_state,
    instance_from_arm,
    metric_points,
    status_codes,
    vm_sizes,
)
from nephos.providers.base import Provider
from nephos.providers.http_client import ApiClient, ApiError, RetryPolicy, seconds
from nephos.providers.options import OptionReader

__all__ = ["AzureProvider", "azure_state"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://management.azure.com"
DEFAULT_API_VERSION = "2024-07-01"
DEFAULT_METRICS_API_VERSION = "2023-10-01"
DEFAULT_NETWORK_API_VERSION = "2024-05-01"
SCOPE = "https://management.azure.com/.default"
_TOKEN_MARGIN = 300.0  # refresh a token this many seconds before it expires
_OPTIONS = (
    "subscription_id",
    "base_url",
    "access_token",
    "api_version",
    "metrics_api_version",
    "network_api_version",
    "timeout",
    "max_attempts",
    "metrics_concurrency",
)


class AzureProvider(Provider):
    """Azure virtual machines of one subscription, with CPU and memory from Azure Monitor.

    Options (``providers.azure``): ``subscription_id`` (required), ``base_url``,
    ``access_token`` (a fixed bearer token, for the cloud simulator; leave it unset to use
    azure-identity), ``api_version`` (Microsoft.Compute, default 2024-07-01),
    ``metrics_api_version`` (default 2023-10-01), ``network_api_version`` (Microsoft.Network,
    default 2024-05-01), ``timeout`` (default 30s), ``max_attempts`` (default 5) and
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
        self._network_version = str(
            options.get("network_api_version") or DEFAULT_NETWORK_API_VERSION
        )
        self._concurrency = int(options.get("metrics_concurrency") or 8)
        self._sizes: dict[str, dict[str, SizeShape]] = {}  # location -> size -> shape
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
            "network_api_version": reader.text("network_api_version", DEFAULT_NETWORK_API_VERSION),
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
        """Every VM of the subscription, merged with its power state, addresses and size.

        Addresses and sizes are extras: when those calls fail, the VMs are still listed
        (without them) and the failure is logged.

        Raises:
            ProviderError: a VM list call failed, a ``nextLink`` pointed elsewhere, or the
                answer was not a list.
        """
        base = f"/subscriptions/{self._subscription}/providers"
        compute = {"api-version": self._api_version}
        models, views, addresses = await asyncio.gather(
            self._pages(f"{base}/Microsoft.Compute/virtualMachines", compute),
            self._pages(
                f"{base}/Microsoft.Compute/virtualMachines", {**compute, "statusOnly": "true"}
            ),
            self._addresses(base),
        )
        await self._load_sizes(base, {str(vm.get("location") or "").lower() for vm in models})
        statuses: dict[str, list[str]] = {}
        for view in views:
            codes = status_codes(view)
            if codes is not None:
                statuses[str(view.get("id", "")).lower()] = codes
        now = self.clock.now()
        instances = []
        for vm in models:
            key = str(vm.get("id", "")).lower()
            location = str(vm.get("location") or "").lower()
            size = str((vm.get("properties") or {}).get("hardwareProfile", {}).get("vmSize", ""))
            instances.append(
                instance_from_arm(
                    vm,
                    statuses.get(key),
                    addresses=addresses.get(key, ((), ())),
                    shape=self._sizes.get(location, {}).get(size.lower(), (None, None)),
                    subscription=self._subscription,
                    now=now,
                )
            )
        return instances

    async def _addresses(self, base: str) -> dict[str, Addresses]:
        """Each VM's addresses from the subscription's NICs and public IPs; empty on failure."""
        network = {"api-version": self._network_version}
        try:
            nics, public_ips = await asyncio.gather(
                self._pages(f"{base}/Microsoft.Network/networkInterfaces", network),
                self._pages(f"{base}/Microsoft.Network/publicIPAddresses", network),
            )
        except ProviderError as exc:
            log.warning("azure: instances listed without addresses: %s", exc)
            return {}
        return addresses_by_vm(nics, public_ips)

    async def _load_sizes(self, base: str, locations: set[str]) -> None:
        """Fetch ``vmSizes`` for locations not seen before; a failure leaves them unknown."""
        missing = sorted(loc for loc in locations - set(self._sizes) if loc)

        async def one(location: str) -> None:
            url = f"{base}/Microsoft.Compute/locations/{location}/vmSizes"
            try:
                body = await self._api.get_json(url, {"api-version": self._api_version})
            except ProviderError as exc:
                log.warning("azure: sizes of %s unknown: %s", location, exc)
                return
            self._sizes[location] = vm_sizes(body)

        await asyncio.gather(*(one(location) for location in missing))

    async def _pages(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        url: str | None = path
        query: Mapping[str, Any] | None = params
        seen: set[str] = set()
        while url:
            page = await self._api.get_json(url, query)
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise ProviderError(f"azure: GET {path} answered without a value list")
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
        A VM deleted since it was listed (404) has no points.

        Raises:
            ProviderError: a metrics call failed.
        """
        gate = asyncio.Semaphore(self._concurrency)
        params = {
            "api-version": self._metrics_version,
            "metricnames": ",".join(METRICS),
            "timespan": f"{_iso(start)}/{_iso(end)}",
            "interval": "PT5M",
            "aggregation": "Average",
        }

        async def one(instance: Instance) -> list[MetricPoint]:
            async with gate:
                try:
                    body = await self._api.get_json(
                        f"{instance.id}/providers/Microsoft.Insights/metrics", params
                    )
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    return []  # deleted since it was listed
            return metric_points(instance.id, body)

        mine = [i for i in instances if i.provider == self.name and i.id.startswith("/")]
        results = await asyncio.gather(*(one(i) for i in mine))
        return [point for points in results for point in points]


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
