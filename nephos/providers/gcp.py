"""The GCP provider: Compute Engine ``aggregatedList`` and CPU from Cloud Monitoring.

Plain REST over httpx with an OAuth bearer token from google-auth (application default
credentials, refreshed in a thread), or from an injected credentials object in tests.
vCPUs and memory come from ``machineTypes.get`` once per type (cached). Memory use needs the
Ops Agent in the guest and is not read here. Parsing lives in
:mod:`nephos.providers.gcp_parse`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from nephos.clock import Clock
from nephos.errors import ProviderError
from nephos.model import Instance, MetricPoint
from nephos.providers.base import Provider
from nephos.providers.gcp_parse import (
    SizeShape,
    cpu_points,
    custom_shape,
    gcp_state,
    instance_from_api,
    last_segment,
    machine_type_shape,
    rate_limited,
)
from nephos.providers.http_client import ApiClient, RetryPolicy, seconds
from nephos.providers.options import OptionReader

__all__ = ["GcpProvider", "gcp_state"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://compute.googleapis.com"
DEFAULT_MONITORING_URL = "https://monitoring.googleapis.com"
SCOPES = (
    "https://www.googleapis.com/auth/compute.readonly",
    "https://www.googleapis.com/auth/monitoring.read",
)
CPU_METRIC = "compute.googleapis.com/instance/cpu/utilization"
_RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_CUSTOM_TYPE = re.compile(r"(?:^|-)custom-(\d+)-(\d+)(?:-ext)?$")
_OPTIONS = (
    "project",
    "base_url",
    "monitoring_url",
    "access_token",
    "max_results",
    "timeout",
    "max_attempts",
)


class GcpProvider(Provider):
    """Compute Engine instances of one project, and their CPU utilisation.

    Options (``providers.gcp``): ``project`` (default: the application default credentials'
    project), ``base_url``, ``monitoring_url``, ``access_token`` (a fixed bearer token, for
    the cloud simulator; leave it unset to use google-auth), ``max_results`` (instances per
    page, 1-500, default 500), ``timeout`` (default 30s) and ``max_attempts`` (default 5).

    Args:
        options: the options, as :meth:`validate_options` returns them.
        clock: waits between retries go through it.
        rng: draws the retry jitter.
        credentials: a google-auth credentials object (tests pass
            ``google.oauth2.credentials.Credentials(token=...)``); None for
            ``google.auth.default``.
        transport: an httpx transport for tests; None for the network.
    """

    name: ClassVar[str] = "gcp"
    supports_metrics: ClassVar[bool] = True

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        clock: Clock,
        rng: random.Random | None = None,
        credentials: Any = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(options, clock=clock)
        self._credentials = credentials
        self._static_token = str(options.get("access_token") or "")
        self._max_results = int(options.get("max_results") or 500)
        self._machine_types: dict[str, SizeShape] = {}
        self._project: str | None = options.get("project") or None
        self._token_lock = asyncio.Lock()
        common: dict[str, Any] = {
            "clock": clock,
            "rng": rng,
            "token": self._token,
            "auth_hint": "check the application default credentials and their roles",
            "retry": RetryPolicy(attempts=int(options.get("max_attempts") or 5)),
            "timeout": seconds(options.get("timeout"), 30.0),
            "retryable": rate_limited,
            "transport": transport,
        }
        self._compute = ApiClient("gcp", str(options.get("base_url") or DEFAULT_BASE_URL), **common)
        self._monitoring = ApiClient(
            "gcp", str(options.get("monitoring_url") or DEFAULT_MONITORING_URL), **common
        )

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``providers.gcp`` and fill in defaults.

        Raises:
            ConfigError: a key is unknown or a value is invalid.
        """
        reader = OptionReader(options, _OPTIONS)
        return {
            "project": reader.text("project"),
            "base_url": reader.url("base_url", DEFAULT_BASE_URL),
            "monitoring_url": reader.url("monitoring_url", DEFAULT_MONITORING_URL),
            "access_token": reader.text("access_token", secret=True),
            "max_results": reader.integer("max_results", 500, minimum=1, maximum=500),
            "timeout": reader.duration("timeout", timedelta(seconds=30), minimum=timedelta(0)),
            "max_attempts": reader.integer("max_attempts", 5, minimum=1, maximum=10),
        }

    async def close(self) -> None:
        """Close the HTTP connection pools."""
        await self._compute.aclose()
        await self._monitoring.aclose()

    async def _token(self) -> str:
        """A valid access token; google-auth's blocking refresh runs in a thread."""
        if self._static_token:
            return self._static_token
        async with self._token_lock:
            if self._credentials is None:
                self._credentials = await asyncio.to_thread(self._default_credentials)
            creds = self._credentials
            if not creds.valid:
                await asyncio.to_thread(_refresh, creds)
            return str(creds.token)

    def _default_credentials(self) -> Any:
        import google.auth
        import google.auth.exceptions

        try:
            creds, project = google.auth.default(scopes=list(SCOPES))
        except google.auth.exceptions.GoogleAuthError as exc:
            raise ProviderError(
                "gcp: no application default credentials: run `gcloud auth application-default "
                "login` or set GOOGLE_APPLICATION_CREDENTIALS"
            ) from exc
        self._project = self._project or project
        return creds

    async def _project_id(self) -> str:
        if self._project is None and self._credentials is None and not self._static_token:
            await self._token()  # loads the default credentials, which may name a project
        if not self._project:
            raise ProviderError("gcp: no project configured and none in the default credentials")
        return self._project

    async def list_instances(self) -> list[Instance]:
        """Every instance of the project across zones, following ``nextPageToken``.

        Zones that answer only a warning (``NO_RESULTS_ON_PAGE``) are skipped; unreachable
        zones are logged and the rest is returned.

        Raises:
            ProviderError: the API failed, the credentials are missing, or it answered a
                shape that is not an aggregated list.
        """
        project = await self._project_id()
        url = f"/compute/v1/projects/{project}/aggregated/instances"
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        token = ""
        while True:
            params: dict[str, Any] = {
                "maxResults": self._max_results,
                "returnPartialSuccess": "true",
            }
            if token:
                params["pageToken"] = token
            page = await self._compute.get_json(url, params)
            if not isinstance(page, dict) or not isinstance(page.get("items", {}), dict):
                raise ProviderError("gcp: aggregatedList answered without an items map")
            for scoped in page.get("items", {}).values():
                for item in scoped.get("instances", []) if isinstance(scoped, dict) else []:
                    if isinstance(item, dict):
                        items.append(item)
            for zone in page.get("unreachables", []) or []:
                log.warning("gcp: %s was unreachable; its instances are missing", zone)
            token = page.get("nextPageToken") or ""
            if not token:
                break
            if token in seen:
                log.warning("gcp: the API repeated a page token; stopping the listing there")
                break
            seen.add(token)
        await self._load_machine_types(project, items)
        now = self.clock.now()
        return [instance_from_api(item, project, self._shape(item), now) for item in items]

    def _shape(self, item: Mapping[str, Any]) -> SizeShape:
        name = last_segment(item.get("machineType"))
        return (
            custom_shape(name) if "custom-" in name else self._machine_types.get(name, (None, None))
        )

    async def _load_machine_types(self, project: str, items: list[dict[str, Any]]) -> None:
        """Fetch each predefined machine type not seen before (custom ones spell their size).

        A type that cannot be read is logged and left unknown; the listing goes on.
        """
        zone_of: dict[str, str] = {}
        for item in items:
            name = last_segment(item.get("machineType"))
            if name and "custom-" not in name and name not in self._machine_types:
                zone_of.setdefault(name, last_segment(item.get("zone")))

        async def one(name: str, zone: str) -> None:
            url = f"/compute/v1/projects/{project}/zones/{zone}/machineTypes/{name}"
            try:
                self._machine_types[name] = machine_type_shape(await self._compute.get_json(url))
            except ProviderError as exc:
                log.warning("gcp: size of machine type %s unknown: %s", name, exc)

        await asyncio.gather(*(one(name, zone) for name, zone in zone_of.items()))

    async def fetch_metrics(
        self, instances: Sequence[Instance], *, start: datetime, end: datetime
    ) -> list[MetricPoint]:
        """CPU utilisation (``cpu_percent``) of ``instances`` from Cloud Monitoring.

        One paged ``timeSeries.list`` call covers the whole project; series are joined to
        instances on ``resource.labels.instance_id``. The API's fraction is scaled to percent.

        Raises:
            ProviderError: the Monitoring API failed.
        """
        wanted = {i.id for i in instances if i.provider == self.name}
        if not wanted:
            return []
        project = await self._project_id()
        base: dict[str, Any] = {
            "filter": f'metric.type="{CPU_METRIC}"',
            "interval.startTime": _rfc3339(start),
            "interval.endTime": _rfc3339(end),
            "aggregation.alignmentPeriod": "300s",
            "aggregation.perSeriesAligner": "ALIGN_MEAN",
        }
        points: list[MetricPoint] = []
        seen: set[str] = set()
        token = ""
        while True:
            params = {**base, "pageToken": token} if token else base
            page = await self._monitoring.get_json(f"/v3/projects/{project}/timeSeries", params)
            if not isinstance(page, dict):
                raise ProviderError("gcp: timeSeries.list answered something other than an object")
            for series in page.get("timeSeries") or []:
                points.extend(cpu_points(series, wanted))
            token = str(page.get("nextPageToken") or "")
            if not token or token in seen:
                return points
            seen.add(token)


def _refresh(creds: Any) -> None:
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        creds.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.GoogleAuthError as exc:
        raise ProviderError(
            f"gcp: could not refresh the access token ({type(exc).__name__}): "
            "check the application default credentials"
        ) from exc


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
