"""Simulated Vultr, GCP and Azure APIs on loopback, in the providers' real response shapes.

A :class:`CloudFleet` describes the instances (provider, state, region, metric functions) and
may change while the servers run: the demo stops an instance and the next poll sees it. One
:class:`CloudSim` serves every provider's endpoints from one loopback port:

- Vultr: ``/v2/instances`` (cursor pages) and ``/v2/instances/{id}/bandwidth``;
- GCP: ``/compute/v1/projects/{p}/aggregated/instances`` (zone map, page tokens) and
  ``/v3/projects/{p}/timeSeries`` (CPU utilisation as a fraction);
- Azure: ``/subscriptions/{s}/providers/Microsoft.Compute/virtualMachines`` (the model, or
  ``statusOnly=true`` instance views with differently cased ids; ``nextLink`` pages) and
  ``{vm id}/providers/Microsoft.Insights/metrics``.

Faults (429 with ``Retry-After``, GCP's 403 ``rateLimitExceeded``, any status) are queued per
provider with :meth:`CloudSim.fail`. The real adapters read these servers with only their
base URLs and credentials changed (:meth:`CloudSim.provider_options`). AWS is not here: moto
serves it.
"""

from __future__ import annotations

import base64
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from yarl import URL

from nephos.clock import Clock, SystemClock
from nephos.model import InstanceState
from nephos.sim import cloud_shapes as shapes
from nephos.sim.cloud_fleet import CloudFleet, CloudInstance, MetricFn
from nephos.sim.http_server import HttpSim

__all__ = ["CloudFleet", "CloudInstance", "CloudSim", "Fault", "MetricFn", "SimRequest"]

_RG = "rg-nephos"


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted error answer: status, headers and a JSON body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One request the simulator saw: provider, path, query, status answered, clock time."""

    provider: str
    path: str
    query: Mapping[str, str]
    status: int
    at: float


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        return max(0, int(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1]))
    except (ValueError, IndexError):
        return 0


def _int_param(query: Mapping[str, str], key: str, default: int, cap: int) -> int:
    try:
        return max(1, min(cap, int(query.get(key, default))))
    except ValueError:
        return default


class CloudSim:
    """Loopback Vultr, GCP and Azure APIs over one :class:`CloudFleet`.

    ``page_sizes`` sets Azure's page size (Vultr and GCP honour the client's ``per_page`` and
    ``maxResults``). Set ``vultr_cursor_loop`` to answer the same next cursor forever, as
    Prism does. Use as ``async with CloudSim(fleet) as sim:`` or :meth:`start`/:meth:`stop`.
    """

    def __init__(
        self,
        fleet: CloudFleet,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        vultr_api_key: str = "sim-vultr-key",
        gcp_project: str = "nephos-sim",
        gcp_token: str = "sim-gcp-token",  # noqa: S107
        azure_subscription: str = "00000000-0000-4000-8000-00000000a2e0",
        azure_token: str = "sim-azure-token",  # noqa: S107
        azure_page_size: int = 200,
    ) -> None:
        self.fleet = fleet
        self.clock: Clock = clock or SystemClock()
        self.vultr_api_key = vultr_api_key
        self.gcp_project = gcp_project
        self.gcp_token = gcp_token
        self.azure_subscription = azure_subscription
        self.azure_token = azure_token
        self.azure_page_size = azure_page_size
        self.vultr_cursor_loop = False
        self.gcp_empty_zones = ("asia-east1-a", "europe-west1-b")
        self.gcp_unreachables: tuple[str, ...] = ()  # scopes reported as unreachable
        self.requests: list[SimRequest] = []
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._forbidden: dict[str, list[str]] = defaultdict(list)
        self._http = HttpSim(host=host, clock=self.clock, fallback=self._handle)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> dict[str, str]:
        """Start serving; return the base URL for each provider.

        Raises:
            OSError: the port cannot be bound.
        """
        await self._http.start()
        return self.base_urls

    async def stop(self) -> None:
        """Stop serving."""
        await self._http.stop()

    async def __aenter__(self) -> CloudSim:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_urls(self) -> dict[str, str]:
        """``{"vultr": url, "gcp": url, "azure": url}`` (one server answers all three)."""
        return dict.fromkeys(("vultr", "gcp", "azure"), self._http.base_url)

    def provider_options(self) -> dict[str, dict[str, str]]:
        """Config options that point each real adapter at this simulator."""
        url = self._http.base_url
        return {
            "vultr": {"api_key": self.vultr_api_key, "base_url": url},
            "gcp": {
                "project": self.gcp_project,
                "base_url": url,
                "monitoring_url": url,
                "access_token": self.gcp_token,
            },
            "azure": {
                "subscription_id": self.azure_subscription,
                "base_url": url,
                "access_token": self.azure_token,
            },
        }

    def azure_id(self, instance: CloudInstance, *, status_case: bool = False) -> str:
        """The ARM id of an Azure instance; ``status_case`` gives the casing of status views."""
        group = _RG.upper() if status_case else _RG
        return (
            f"/subscriptions/{self.azure_subscription}/resourceGroups/{group}"
            f"/providers/Microsoft.Compute/virtualMachines/{instance.name}"
        )

    # ------------------------------------------------------------------ faults

    def fail(self, provider: str, fault: Fault, times: int = 1) -> None:
        """Answer the next ``times`` requests to ``provider`` with ``fault``."""
        self._faults[provider].extend([fault] * times)

    def forbid(self, provider: str, path_part: str) -> None:
        """Answer 403 to every ``provider`` request whose path contains ``path_part``.

        It stands for a role that lacks one permission, e.g. ``forbid("azure",
        "Microsoft.Network")`` for a reader of compute only.
        """
        self._forbidden[provider].append(path_part.lower())

    def rate_limit(self, provider: str, retry_after: str | None = "1", times: int = 1) -> None:
        """Queue the provider's own rate-limit answer (GCP: 403 ``rateLimitExceeded``)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        if provider == "gcp":
            reason = {"domain": "usageLimits", "reason": "rateLimitExceeded"}
            body: Any = {
                "error": {
                    "code": 403,
                    "message": "Rate Limit Exceeded",
                    "errors": [{"message": "Rate Limit Exceeded", **reason}],
                    "status": "PERMISSION_DENIED",
                }
            }
            self.fail(provider, Fault(403, headers, body), times)
        elif provider == "azure":
            body = {"error": {"code": "TooManyRequests", "message": "Too many requests."}}
            self.fail(provider, Fault(429, headers, body), times)
        else:
            body = {"error": "Rate limit exceeded", "status": 429}
            self.fail(provider, Fault(429, headers, body), times)

    # ------------------------------------------------------------------ dispatch

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        lower = [p.lower() for p in parts]
        query = dict(request.query)
        if parts[:2] == ["v2", "instances"]:
            provider, token = "vultr", self.vultr_api_key
        elif parts[:1] in (["compute"], ["v3"]):
            provider, token = "gcp", self.gcp_token
        elif lower[:1] == ["subscriptions"]:
            provider, token = "azure", self.azure_token
        else:
            return web.json_response({"error": "not found"}, status=404)
        status, body, headers = self._answer(provider, token, request, parts, lower, query)
        self.requests.append(
            SimRequest(provider, request.path, query, status, self.clock.monotonic())
        )
        return web.json_response(body, status=status, headers=headers)

    def _answer(
        self,
        provider: str,
        token: str,
        request: web.Request,
        parts: list[str],
        lower: list[str],
        query: dict[str, str],
    ) -> tuple[int, Any, Mapping[str, str]]:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return 401, shapes.unauthorized(provider), {}
        if any(part in request.path.lower() for part in self._forbidden[provider]):
            return 403, shapes.forbidden(provider, request.path), {}
        if self._faults[provider]:
            fault = self._faults[provider].popleft()
            return fault.status, fault.body, fault.headers
        if provider == "vultr":
            if len(parts) == 2:
                return 200, self._vultr_page(query), {}
            if len(parts) == 4 and parts[3] == "bandwidth":
                return self._vultr_bandwidth(parts[2], query)
        elif provider == "gcp":
            project = self.gcp_project
            if parts == ["compute", "v1", "projects", project, "aggregated", "instances"]:
                return 200, self._gcp_page(query), {}
            if parts == ["v3", "projects", project, "timeSeries"]:
                return 200, self._gcp_series(query), {}
            if parts[:5] == ["compute", "v1", "projects", project, "zones"] and len(parts) == 8:
                return self._gcp_machine_type(parts[7])
        elif provider == "azure" and lower[1] == self.azure_subscription.lower():
            if lower[2:] == ["providers", "microsoft.compute", "virtualmachines"]:
                status_only = query.get("statusOnly", "").lower() == "true"
                build = self._azure_view if status_only else self._azure_model
                return 200, self._azure_page(request, query, build), {}
            if lower[2:] == ["providers", "microsoft.network", "networkinterfaces"]:
                return 200, self._azure_page(request, query, self._azure_nic), {}
            if lower[2:] == ["providers", "microsoft.network", "publicipaddresses"]:
                return 200, self._azure_page(request, query, self._azure_public_ip), {}
            if lower[2:5] == ["providers", "microsoft.compute", "locations"] and lower[6:] == [
                "vmsizes"
            ]:
                return 200, self._azure_sizes(lower[5]), {}
            if lower[-3:] == ["providers", "microsoft.insights", "metrics"]:
                return self._azure_metrics("/" + "/".join(lower[:-3]), query)
        return 404, shapes.not_found(provider), {}

    # The JSON of each object comes from nephos.sim.cloud_shapes; these methods page and filter.

    def _vultr_page(self, query: Mapping[str, str]) -> dict[str, Any]:
        live = self.fleet.of("vultr")
        size = _int_param(query, "per_page", 100, 500)
        start = _offset(query.get("cursor", "")) if query.get("cursor") else 0
        end = start + size
        nxt = _token(end) if end < len(live) else ""
        if self.vultr_cursor_loop:
            nxt = "WxYzExampleNext"
        links = {"next": nxt, "prev": _token(max(0, start - size)) if start else ""}
        return {
            "instances": [shapes.vultr_instance(i) for i in live[start:end]],
            "meta": {"total": len(live), "links": links},
        }

    def _vultr_bandwidth(
        self, instance_id: str, query: Mapping[str, str]
    ) -> tuple[int, Any, Mapping[str, str]]:
        if not any(i.id == instance_id for i in self.fleet.of("vultr")):
            return 404, {"error": "Invalid instance ID.", "status": 404}, {}
        instance = self.fleet.get("vultr", instance_id)
        days = _int_param(query, "date_range", 30, 180)
        today = self.clock.now().astimezone(UTC).date()
        bandwidth = {}
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            bandwidth[day.isoformat()] = {
                "incoming_bytes": int(instance.metric("bandwidth_in_bytes", at)),
                "outgoing_bytes": int(instance.metric("bandwidth_out_bytes", at)),
            }
        return 200, {"bandwidth": bandwidth}, {}

    def _gcp_page(self, query: Mapping[str, str]) -> dict[str, Any]:
        live = self.fleet.of("gcp")
        size = _int_param(query, "maxResults", 500, 500)
        start = _offset(query["pageToken"]) if query.get("pageToken") else 0
        zones: dict[str, list[dict[str, Any]]] = {}
        for instance in live:
            zones.setdefault(instance.region, [])
        for zone in self.gcp_empty_zones:
            zones.setdefault(zone, [])
        for instance in live[start : start + size]:
            zones[instance.region].append(shapes.gcp_instance(instance, self.gcp_project))
        items: dict[str, Any] = {}
        for zone, instances in zones.items():
            scope = f"zones/{zone}"
            items[scope] = {"instances": instances} if instances else shapes.gcp_warning(scope)
        page: dict[str, Any] = {
            "kind": "compute#instanceAggregatedList",
            "id": f"projects/{self.gcp_project}/aggregated/instances",
            "items": items,
            "selfLink": f"{shapes.GOOGLE_COMPUTE}/projects/{self.gcp_project}/aggregated/instances",
        }
        if self.gcp_unreachables:
            page["unreachables"] = list(self.gcp_unreachables)
        if start + size < len(live):
            page["nextPageToken"] = _token(start + size)
        return page

    def _gcp_series(self, query: Mapping[str, str]) -> dict[str, Any]:
        if shapes.GCP_CPU not in query.get("filter", ""):
            return {"unit": "10^2.%"}  # no series match: the API sends no timeSeries key
        start = datetime.fromisoformat(query["interval.startTime"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(query["interval.endTime"].replace("Z", "+00:00"))
        running = [i for i in self.fleet.of("gcp") if i.state is InstanceState.RUNNING]
        size = _int_param(query, "pageSize", 100, 100_000)
        offset = _offset(query["pageToken"]) if query.get("pageToken") else 0
        series = [
            shapes.gcp_cpu_series(i, self.gcp_project, start, end)
            for i in running[offset : offset + size]
        ]
        page: dict[str, Any] = {"timeSeries": series, "unit": "10^2.%"}
        if offset + size < len(running):
            page["nextPageToken"] = _token(offset + size)
        return page

    def _gcp_machine_type(self, name: str) -> tuple[int, Any, Mapping[str, str]]:
        for i in self.fleet.of("gcp"):
            if i.size == name:
                return 200, shapes.gcp_machine_type(i, self.gcp_project), {}
        return 404, shapes.not_found("gcp"), {}

    def _azure_model(self, i: CloudInstance) -> dict[str, Any] | None:
        return shapes.azure_model(i, self.azure_id(i))

    def _azure_view(self, i: CloudInstance) -> dict[str, Any] | None:
        return shapes.azure_view(i, self.azure_id(i, status_case=True))

    def _azure_nic(self, i: CloudInstance) -> dict[str, Any] | None:
        # The NIC names its VM in the casing of the status views: the join must ignore case.
        return shapes.azure_nic(i, self.azure_id(i, status_case=True))

    def _azure_public_ip(self, i: CloudInstance) -> dict[str, Any] | None:
        return shapes.azure_public_ip(i, self.azure_id(i)) if i.public_ip else None

    def _azure_sizes(self, location: str) -> dict[str, Any]:
        sizes = {i.size: i for i in self.fleet.of("azure") if i.region.lower() == location}
        return {"value": [shapes.azure_vm_size(i) for i in sizes.values()]}

    def _azure_page(
        self,
        request: web.Request,
        query: Mapping[str, str],
        build: Callable[[CloudInstance], dict[str, Any] | None],
    ) -> dict[str, Any]:
        built = [build(i) for i in self.fleet.of("azure")]
        live = [item for item in built if item is not None]
        start = int(query.get("$skiptoken", "0") or 0)
        end = start + self.azure_page_size
        page: dict[str, Any] = {"value": live[start:end]}
        if end < len(live):
            nxt = URL(self._http.base_url + request.path).with_query({**query, "$skiptoken": end})
            page["nextLink"] = str(nxt)
        return page

    def _azure_metrics(
        self, vm_id: str, query: Mapping[str, str]
    ) -> tuple[int, Any, Mapping[str, str]]:
        found = [i for i in self.fleet.of("azure") if self.azure_id(i).lower() == vm_id]
        if not found:
            return 404, shapes.not_found("azure"), {}
        instance = found[0]
        start_text, _, end_text = query.get("timespan", "").partition("/")
        try:
            start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
            end = datetime.fromisoformat(end_text.replace("Z", "+00:00"))
        except ValueError:
            return 400, {"error": {"code": "BadRequest", "message": "bad timespan"}}, {}
        names = [n for n in query.get("metricnames", "").split(",") if n]
        body = shapes.azure_metrics_body(instance, self.azure_id(instance), names, start, end)
        return 200, body, {}
