"""The Vultr provider: ``/v2/instances`` with cursor pages, and daily bandwidth as metrics.

Vultr has no CPU or memory API; the only per-instance usage figures are daily bandwidth
totals (``/v2/instances/{id}/bandwidth``), which :meth:`VultrProvider.fetch_metrics` returns
as ``bandwidth_in_bytes`` and ``bandwidth_out_bytes`` points. The HTTP policy (bearer key,
retries, ``Retry-After``) is :mod:`nephos.providers.http_client`.
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
from nephos.model import Instance, InstanceState, MetricPoint, parse_time
from nephos.providers.base import Provider
from nephos.providers.http_client import ApiClient, ApiError, RetryPolicy, seconds
from nephos.providers.options import OptionReader

__all__ = ["VultrProvider", "vultr_state"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.vultr.com"
MAX_PER_PAGE = 500
DEFAULT_RATE = 20  # requests a second; Vultr allows 30 per originating IP
MAX_BANDWIDTH_DAYS = 60  # the 2023 spec's maximum for date_range
_NO_IP = ("", "0.0.0.0")  # noqa: S104 - not a bind address; Vultr reports 0.0.0.0 while an instance is pending
_OPTIONS = (
    "api_key",
    "base_url",
    "per_page",
    "timeout",
    "max_attempts",
    "bandwidth_concurrency",
    "requests_per_second",
)


def vultr_state(
    status: str, power_status: str, server_status: str
) -> tuple[InstanceState, str | None]:
    """The normalised state and substate of a Vultr instance (reference/providers.md §6.3).

    ``status`` decides first (pending, suspended, resizing), then ``power_status``, then
    ``server_status``. Anything unmapped is UNKNOWN.
    """
    if status == "pending":
        return InstanceState.PENDING, None
    if status == "suspended":
        return InstanceState.SUSPENDED, "billing_suspended"
    if status == "resizing":
        return InstanceState.MAINTENANCE, "resizing"
    if status != "active":
        return InstanceState.UNKNOWN, None
    if power_status == "stopped":
        return InstanceState.STOPPED, None
    if power_status != "running":
        return InstanceState.UNKNOWN, None
    if server_status in ("ok", "none"):
        return InstanceState.RUNNING, None
    if server_status == "installingbooting":
        return InstanceState.PENDING, "installingbooting"
    if server_status == "locked":
        return InstanceState.MAINTENANCE, "locked"
    return InstanceState.UNKNOWN, None


class VultrProvider(Provider):
    """Vultr instances through API v2.

    Options (``providers.vultr``): ``api_key`` (required, usually ``${VULTR_API_KEY}``),
    ``base_url`` (default https://api.vultr.com), ``per_page`` (1-500, default 500),
    ``timeout`` (per request, default 30s), ``max_attempts`` (default 5),
    ``bandwidth_concurrency`` (parallel bandwidth calls, default 4) and
    ``requests_per_second`` (a client-side limit below Vultr's 30, default 20).

    Args:
        options: the options, as :meth:`validate_options` returns them.
        clock: waits between retries go through it.
        rng: draws the retry jitter.
        transport: an httpx transport for tests; None for the network.
    """

    name: ClassVar[str] = "vultr"
    supports_metrics: ClassVar[bool] = True  # daily bandwidth only: Vultr has no CPU/memory API

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        clock: Clock,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(options, clock=clock)
        api_key = str(options.get("api_key") or "")
        if not api_key:
            raise ProviderError("vultr: no api_key configured: set VULTR_API_KEY")

        async def token() -> str:
            return api_key

        self._per_page = int(options.get("per_page") or MAX_PER_PAGE)
        self._concurrency = int(options.get("bandwidth_concurrency") or 4)
        self._api = ApiClient(
            "vultr",
            str(options.get("base_url") or DEFAULT_BASE_URL),
            clock=clock,
            rng=rng,
            token=token,
            auth_hint="check VULTR_API_KEY",
            retry=RetryPolicy(attempts=int(options.get("max_attempts") or 5)),
            timeout=seconds(options.get("timeout"), 30.0),
            transport=transport,
            rate_limit=float(options.get("requests_per_second") or DEFAULT_RATE),
        )

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``providers.vultr`` and fill in defaults.

        Raises:
            ConfigError: a key is unknown, ``api_key`` is missing, or a value is invalid.
        """
        reader = OptionReader(options, _OPTIONS)
        return {
            "api_key": reader.text("api_key", required=True, secret=True),
            "base_url": reader.url("base_url", DEFAULT_BASE_URL),
            "per_page": reader.integer("per_page", MAX_PER_PAGE, minimum=1, maximum=MAX_PER_PAGE),
            "timeout": reader.duration("timeout", timedelta(seconds=30), minimum=timedelta(0)),
            "max_attempts": reader.integer("max_attempts", 5, minimum=1, maximum=10),
            "bandwidth_concurrency": reader.integer(
                "bandwidth_concurrency", 4, minimum=1, maximum=30
            ),
            "requests_per_second": reader.integer(
                "requests_per_second", DEFAULT_RATE, minimum=1, maximum=30
            ),
        }

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._api.aclose()

    async def list_instances(self) -> list[Instance]:
        """Every instance on the account, following cursors until ``meta.links.next`` is empty.

        A cursor that comes back a second time ends the listing with a warning (a stand-in
        such as Prism returns the same cursor forever).

        Raises:
            ProviderError: the API failed, or answered a shape that is not a list of instances.
        """
        now = self.clock.now()
        instances: list[Instance] = []
        seen: set[str] = set()
        cursor = ""
        while True:
            params: dict[str, Any] = {"per_page": self._per_page}
            if cursor:
                params["cursor"] = cursor
            page = await self._api.get_json("/v2/instances", params)
            if not isinstance(page, dict) or not isinstance(page.get("instances"), list):
                raise ProviderError("vultr: /v2/instances answered without an instances list")
            instances.extend(
                _instance(item, now) for item in page["instances"] if isinstance(item, dict)
            )
            cursor = _next_cursor(page)
            if not cursor:
                return instances
            if cursor in seen:
                log.warning("vultr: the API repeated a page cursor; stopping the listing there")
                return instances
            seen.add(cursor)

    async def fetch_metrics(
        self, instances: Sequence[Instance], *, start: datetime, end: datetime
    ) -> list[MetricPoint]:
        """Daily bandwidth in and out for each Vultr instance, for the UTC days in the window.

        Each point is stamped at the start of its UTC day; days that do not overlap
        ``[start, end]`` are dropped. Calls run ``bandwidth_concurrency`` at a time.

        Raises:
            ProviderError: a bandwidth call failed.
        """
        first_day = start.astimezone(UTC).date()
        days = (self.clock.now().astimezone(UTC).date() - first_day).days + 1
        date_range = min(MAX_BANDWIDTH_DAYS, max(1, days))
        gate = asyncio.Semaphore(self._concurrency)

        async def one(instance: Instance) -> list[MetricPoint]:
            async with gate:
                try:
                    body = await self._api.get_json(
                        f"/v2/instances/{instance.id}/bandwidth", {"date_range": date_range}
                    )
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    return []  # deleted since it was listed
            return _bandwidth_points(instance.id, body, start, end)

        mine = [i for i in instances if i.provider == self.name]
        results = await asyncio.gather(*(one(i) for i in mine))
        return [point for points in results for point in points]


def _next_cursor(page: Mapping[str, Any]) -> str:
    meta = page.get("meta")
    links = meta.get("links") if isinstance(meta, dict) else None
    nxt = links.get("next") if isinstance(links, dict) else None
    return nxt if isinstance(nxt, str) else ""


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _int(item: Mapping[str, Any], key: str) -> int | None:
    value = item.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _time(text: str) -> datetime | None:
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


def _instance(item: Mapping[str, Any], now: datetime) -> Instance:
    status, power, server = (_text(item, k) for k in ("status", "power_status", "server_status"))
    state, substate = vultr_state(status, power, server)
    main_ip = _text(item, "main_ip")
    internal_ip = _text(item, "internal_ip")
    tags = item.get("tags")
    return Instance(
        provider="vultr",
        id=_text(item, "id"),
        name=_text(item, "label") or _text(item, "hostname") or _text(item, "id"),
        state=state,
        raw_state=f"{status}/{power}/{server}",
        substate=substate,
        region=_text(item, "region") or None,
        public_ips=() if main_ip in _NO_IP else (main_ip,),
        private_ips=(internal_ip,) if internal_ip else (),
        size=_text(item, "plan") or None,
        vcpus=_int(item, "vcpu_count"),
        memory_mb=_int(item, "ram"),
        tags={str(t): "" for t in tags} if isinstance(tags, list) else {},
        created_at=_time(_text(item, "date_created")),
        health_signal=server or None,
        updated_at=now,
    )


def _bandwidth_points(
    instance_id: str, body: Any, start: datetime, end: datetime
) -> list[MetricPoint]:
    days = body.get("bandwidth") if isinstance(body, dict) else None
    if not isinstance(days, dict):
        raise ProviderError(f"vultr: bandwidth of {instance_id} answered without a bandwidth map")
    points: list[MetricPoint] = []
    for day, usage in sorted(days.items()):
        try:
            ts = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            continue  # not a day key: ignore rather than fail the whole poll
        if not isinstance(usage, dict) or not start - timedelta(days=1) < ts <= end:
            continue
        for key, metric in (
            ("incoming_bytes", "bandwidth_in_bytes"),
            ("outgoing_bytes", "bandwidth_out_bytes"),
        ):
            value = usage.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                points.append(MetricPoint(instance_id, metric, "bytes", ts, float(value), "vultr"))
    return points
