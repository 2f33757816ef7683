"""How far the warehouse is behind the hot store: :class:`EtlLag`, and the checkpoint mirror.

The authoritative checkpoint lives in the warehouse. The ETL also mirrors it into the hot
store's key-value state after every checkpoint, so that processes without a warehouse
connection (``nephos status``, the sentinel's retention) can see it: a DuckDB file is locked by
the process that writes it. The mirror is written only after the warehouse checkpoint, so it is
never ahead of it and is safe to protect retention with. The ETL loop itself lives in
``etl.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nephos.model import parse_time
from nephos.store.base import HotStore

__all__ = ["EtlLag", "measure_lag", "mirror_key", "read_lag", "read_mirrored_checkpoint"]


@dataclass(frozen=True, slots=True)
class EtlLag:
    """The ETL's lag behind the hot store at ``at``.

    ``events`` is the hot store's latest seq minus the checkpoint; ``seconds`` is the age of
    the oldest event not yet in the warehouse (0 when there is none).
    """

    checkpoint: int
    latest_seq: int
    events: int
    seconds: float
    oldest_unloaded: datetime | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (times as RFC 3339 UTC)."""
        oldest = self.oldest_unloaded
        return {
            "checkpoint": self.checkpoint,
            "latest_seq": self.latest_seq,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "oldest_unloaded": _rfc3339(oldest) if oldest is not None else None,
            "at": _rfc3339(self.at),
        }


def _rfc3339(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def mirror_key(name: str) -> str:
    """The hot-store state key under which the ETL named ``name`` mirrors its checkpoint."""
    return f"etl.{name}.checkpoint"


async def measure_lag(store: HotStore, checkpoint: int, now: datetime) -> EtlLag:
    """The lag of a consumer whose checkpoint is ``checkpoint``, read from ``store``.

    Raises:
        StoreError: the hot store could not be read.
    """
    latest = await store.latest_seq()
    oldest: datetime | None = None
    if latest > checkpoint:
        first = await store.changes(checkpoint, limit=1)
        oldest = first[0].ts if first else None
    seconds = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return EtlLag(
        checkpoint=checkpoint,
        latest_seq=latest,
        events=max(0, latest - checkpoint),
        seconds=seconds,
        oldest_unloaded=oldest,
        at=now,
    )


async def read_mirrored_checkpoint(
    store: HotStore, name: str = "etl"
) -> tuple[int, datetime] | None:
    """The checkpoint the ETL ``name`` last mirrored into ``store``, and when; None if never.

    Raises:
        StoreError: the hot store could not be read.
    """
    value = await store.get_state(mirror_key(name))
    if not isinstance(value, dict):
        return None
    try:
        return int(value["seq"]), parse_time(str(value["at"]))
    except (KeyError, TypeError, ValueError):
        return None  # written by something else: treat as never mirrored


async def read_lag(store: HotStore, now: datetime, name: str = "etl") -> EtlLag | None:
    """The lag of the ETL ``name`` as seen from the hot store alone (for ``nephos status``).

    None when no ETL has ever checkpointed into this store.

    Raises:
        StoreError: the hot store could not be read.
    """
    mirrored = await read_mirrored_checkpoint(store, name)
    if mirrored is None:
        return None
    return await measure_lag(store, mirrored[0], now)
