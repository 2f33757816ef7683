"""The HotStore base class: recent results, alerts, instances and metrics, with a change feed.

Every write commits its rows together with change-feed events in one transaction; each event
gets a strictly increasing ``seq``. The hub and the ETL read the feed with :meth:`changes`.
Implementations: ``sqlite`` (embedded default) and, later, ``dynamodb``. All methods are async;
blocking drivers run in a thread. Every implementation passes ``tests/test_store_contract.py``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from nephos.model import Alert, AlertState, CheckResult, Event, Instance, MetricPoint

__all__ = ["HotStore"]


class HotStore(abc.ABC):
    """Recent data and its change feed.

    Raises of every method: :class:`nephos.errors.StoreUnavailable` when the store cannot be
    reached or written right now (the caller spools and retries), :class:`nephos.errors.StoreError`
    for anything else.
    """

    name: ClassVar[str]
    """The backend's name in the config (``storage.hot.backend``)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Open (and create or migrate) the store."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and close; idempotent."""

    # ---- writes: each returns the seqs of the events it appended, in order

    @abc.abstractmethod
    async def put_results(self, results: Sequence[CheckResult]) -> list[int]:
        """Store check results and append one ``check`` event each."""

    @abc.abstractmethod
    async def put_alert(self, alert: Alert, *, expected_version: int | None = None) -> Alert:
        """Insert or update an alert by id and append an ``alert`` event.

        The stored alert gets ``version = alert.version + 1`` and is returned. With
        ``expected_version`` the write is conditional: it fails with StoreError when the stored
        version differs (a concurrent writer changed it).
        """

    @abc.abstractmethod
    async def put_instances(self, instances: Sequence[Instance]) -> list[int]:
        """Upsert instances by (provider, id) and append an ``instance`` event each."""

    @abc.abstractmethod
    async def put_metrics(self, points: Sequence[MetricPoint]) -> list[int]:
        """Store metric points and append ``metric`` events."""

    # ---- reads

    @abc.abstractmethod
    async def latest_results(self) -> list[CheckResult]:
        """The newest result of every target."""

    @abc.abstractmethod
    async def results(
        self, target: str | None = None, *, since: datetime | None = None, limit: int = 1000
    ) -> list[CheckResult]:
        """Results, newest first, optionally for one target and after ``since``."""

    @abc.abstractmethod
    async def get_alert(self, alert_id: str) -> Alert | None:
        """One alert by id, or None."""

    @abc.abstractmethod
    async def alerts(
        self, *, states: Sequence[AlertState] | None = None, limit: int = 1000
    ) -> list[Alert]:
        """Alerts, newest first, optionally only in ``states``."""

    @abc.abstractmethod
    async def open_alert(self, dedup_key: str) -> Alert | None:
        """The firing or acknowledged alert with this dedup key, or None."""

    @abc.abstractmethod
    async def instances(self) -> list[Instance]:
        """Every known instance."""

    @abc.abstractmethod
    async def metrics(
        self,
        instance: str | None = None,
        metric: str | None = None,
        *,
        since: datetime | None = None,
        limit: int = 10000,
    ) -> list[MetricPoint]:
        """Metric points, oldest first, filtered."""

    # ---- change feed

    @abc.abstractmethod
    async def changes(self, after_seq: int, limit: int = 1000) -> list[Event]:
        """Events with ``seq > after_seq``, in seq order, at most ``limit``."""

    @abc.abstractmethod
    async def latest_seq(self) -> int:
        """The highest committed seq, or 0."""

    # ---- small key-value state (checkpoints, reminders sent, flap history)

    @abc.abstractmethod
    async def get_state(self, key: str) -> Any | None:
        """A JSON value stored under ``key``, or None."""

    @abc.abstractmethod
    async def set_state(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key``."""

    async def get_states(self, keys: Sequence[str]) -> dict[str, Any]:
        """The JSON values stored under ``keys``; keys without a value are left out.

        Backends override this to read many keys at once; the default reads one by one.
        """
        found = {key: await self.get_state(key) for key in dict.fromkeys(keys)}
        return {key: value for key, value in found.items() if value is not None}

    async def set_states(self, values: Mapping[str, Any]) -> None:
        """Store several JSON values, each under its key.

        Backends override this to write them in one transaction; the default writes one by one.
        """
        for key, value in values.items():
            await self.set_state(key, value)

    # ---- retention

    @abc.abstractmethod
    async def purge(self, before: datetime, *, protect_from_seq: int | None = None) -> int:
        """Delete results, metrics, resolved alerts and events older than ``before``; the count.

        With ``protect_from_seq`` (the ETL's checkpoint), events with ``seq > protect_from_seq``
        are kept even when older than ``before``, so that nothing unloaded is lost.
        """
