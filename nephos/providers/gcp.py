"""The GCP provider: Compute Engine ``aggregatedList`` and CPU from Cloud Monitoring.

Plain REST over httpx with an OAuth bearer token from google-auth (application default
credentials, refreshed in a thread), or from an injected credentials object in tests.
Memory needs the Ops Agent in the guest and is not read here.
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
from nephos.model import Instance, InstanceState, MetricPoint, parse_time
from nephos.providers.base import Provider
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

_STATES: dict[str, tuple[InstanceState, str | None]] = {
    "PENDING": (InstanceState.PENDING, None),
    "PROVISIONING": (InstanceState.PENDING, None),
    "STAGING": (InstanceState.PENDING, None),
    "RUNNING": (InstanceState.RUNNING, None),
    "STOPPING": (InstanceState.STOPPING, None),
    "PENDING_STOP": (InstanceState.STOPPING, None),
    "STOPPED": (InstanceState.STOPPED, None),
    # A VM that a user stopped shows TERMINATED: it still exists and can be started again.
    "TERMINATED": (InstanceState.STOPPED, None),
    "SUSPENDING": (InstanceState.SUSPENDED, "suspending"),
    "SUSPENDED": (InstanceState.SUSPENDED, None),
    "REPAIRING": (InstanceState.MAINTENANCE, None),
    "DEPROVISIONING": (InstanceState.TERMINATING, None),
}


def gcp_state(status: str) -> tuple[InstanceState, str | None]:
    """The normalised state and substate of a Compute Engine ``status``; unmapped is UNKNOWN."""
    return _STATES.get(status, (InstanceState.UNKNOWN, None))


def _rate_limited(response: httpx.Response) -> bool:
    """Whether a 403 is Compute's per-minute quota (worth retrying) rather than a refusal."""
    if response.status_code != 403:
        return False
    try:
        errors = response.json()["error"]["errors"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("reason") in _RATE_LIMIT_REASONS for e in errors
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
        self._project: str | None = options.get("project") or None
        self._token_lock = asyncio.Lock()
        common: dict[str, Any] = {
            "clock": clock,
            "rng": rng,
            "token": self._token,
            "auth_hint": "check the application default credentials and their roles",
            "retry": RetryPolicy(attempts=int(options.get("max_attempts") or 5)),
            "timeout": seconds(options.get("timeout"), 30.0),
            "retryable": _rate_limited,
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
        now = self.clock.now()
        url = f"/compute/v1/projects/{project}/aggregated/instances"
        instances: list[Instance] = []
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
                        instances.append(_instance(item, project, now))
            for zone in page.get("unreachables", []) or []:
                log.warning("gcp: %s was unreachable; its instances are missing", zone)
            token = page.get("nextPageToken") or ""
            if not token:
                return instances
            if token in seen:
                log.warning("gcp: the API repeated a page token; stopping the listing there")
                return instances
            seen.add(token)

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
                points.extend(_cpu_points(series, wanted))
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


def _last_segment(url: Any) -> str:
    return url.rsplit("/", 1)[-1] if isinstance(url, str) else ""


def _custom_shape(machine_type: str) -> tuple[int | None, int | None]:
    """vCPUs and memory of a custom machine type, which spell them in their name."""
    match = _CUSTOM_TYPE.search(machine_type)
    return (int(match[1]), int(match[2])) if match else (None, None)


def _instance(item: Mapping[str, Any], project: str, now: datetime) -> Instance:
    status = str(item.get("status") or "")
    state, substate = gcp_state(status)
    zone = _last_segment(item.get("zone"))
    size = _last_segment(item.get("machineType"))
    vcpus, memory_mb = _custom_shape(size)
    private: list[str] = []
    public: list[str] = []
    for nic in item.get("networkInterfaces") or []:
        if not isinstance(nic, dict):
            continue
        if nic.get("networkIP"):
            private.append(str(nic["networkIP"]))
        public.extend(
            str(c["natIP"])
            for c in nic.get("accessConfigs") or []
            if isinstance(c, dict) and c.get("natIP")
        )
    labels = item.get("labels")
    created = item.get("creationTimestamp")
    try:
        created_at = parse_time(created) if isinstance(created, str) else None
    except ValueError:
        created_at = None
    return Instance(
        provider="gcp",
        id=str(item.get("id") or ""),
        name=str(item.get("name") or item.get("id") or ""),
        state=state,
        raw_state=status,
        substate=substate,
        account=project,
        region=zone.rsplit("-", 1)[0] if "-" in zone else zone or None,
        zone=zone or None,
        public_ips=tuple(public),
        private_ips=tuple(private),
        size=size or None,
        vcpus=vcpus,
        memory_mb=memory_mb,
        tags={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        created_at=created_at,
        updated_at=now,
    )


def _cpu_points(series: Any, wanted: set[str]) -> list[MetricPoint]:
    if not isinstance(series, dict):
        return []
    instance_id = str(((series.get("resource") or {}).get("labels") or {}).get("instance_id", ""))
    if instance_id not in wanted:
        return []
    points: list[MetricPoint] = []
    for point in series.get("points") or []:
        try:
            ts = parse_time(point["interval"]["endTime"])
            value = float(point["value"]["doubleValue"])
        except (KeyError, TypeError, ValueError):
            continue  # a point without a time or a double: skip it, keep the series
        points.append(MetricPoint(instance_id, "cpu_percent", "percent", ts, value * 100, "gcp"))
    return points
