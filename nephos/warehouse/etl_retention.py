"""Hot-store retention that never silently drops events the warehouse has not received.

:func:`purge_hot_store` is what the sentinel calls on its retention schedule: it purges rows
older than the retention and, when an ETL is configured, keeps every event after the ETL's
checkpoint, with a loud WARNING naming how many expired events were kept and why.
:func:`retention_checkpoint` reads that checkpoint from the hot store's mirror (see
``etl_lag.py``), so the sentinel needs no warehouse connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from nephos.clock import Clock
from nephos.store.base import HotStore
from nephos.warehouse.etl_lag import read_mirrored_checkpoint

__all__ = ["PurgeReport", "purge_hot_store", "retention_checkpoint"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one retention pass did.

    ``kept_unloaded`` counts events older than ``cutoff`` that were kept because they are after
    the checkpoint (by seq, so exact for a store whose seqs have no holes);
    ``oldest_unloaded`` is the commit time of the first of them.
    """

    deleted: int
    cutoff: datetime
    checkpoint: int | None
    kept_unloaded: int = 0
    oldest_unloaded: datetime | None = None


async def retention_checkpoint(store: HotStore, name: str = "etl") -> int:
    """The seq up to which the ETL ``name`` has loaded, as mirrored in ``store``; 0 if never.

    0 protects every event: an ETL that is configured but has not checkpointed yet loses
    nothing to retention.

    Raises:
        StoreError: the hot store could not be read.
    """
    mirrored = await read_mirrored_checkpoint(store, name)
    return mirrored[0] if mirrored is not None else 0


async def purge_hot_store(
    store: HotStore,
    *,
    retention: timedelta,
    clock: Clock,
    warehouse_checkpoint: int | None,
) -> PurgeReport:
    """Purge rows older than ``retention``, keeping events the warehouse has not received.

    Pass ``warehouse_checkpoint=None`` only when no ETL is configured (there is no warehouse
    to protect); pass :func:`retention_checkpoint` otherwise.

    Raises:
        StoreUnavailable: the hot store is locked, full or gone.
        StoreError: the purge failed.
    """
    cutoff = clock.now() - retention
    deleted = await store.purge(cutoff, protect_from_seq=warehouse_checkpoint)
    if warehouse_checkpoint is None:
        return PurgeReport(deleted=deleted, cutoff=cutoff, checkpoint=None)
    first = await store.changes(warehouse_checkpoint, limit=1)
    if not first or first[0].ts >= cutoff:
        return PurgeReport(deleted=deleted, cutoff=cutoff, checkpoint=warehouse_checkpoint)
    last_expired = await _last_seq_before(store, first[0].seq, cutoff)
    kept = last_expired - warehouse_checkpoint
    log.warning(
        "hot-store retention: kept %d events older than the %s retention because they have "
        "not reached the warehouse (ETL checkpoint seq %d, oldest unloaded event from %s); "
        "the hot store grows until the ETL catches up: check `nephos etl run`",
        kept,
        retention,
        warehouse_checkpoint,
        first[0].ts.isoformat(),
    )
    return PurgeReport(
        deleted=deleted,
        cutoff=cutoff,
        checkpoint=warehouse_checkpoint,
        kept_unloaded=kept,
        oldest_unloaded=first[0].ts,
    )


async def _last_seq_before(store: HotStore, low: int, cutoff: datetime) -> int:
    """The seq of the last event committed before ``cutoff``; ``low`` is such an event.

    A binary search over seqs (commit times grow with seq), so a week of backlog costs a few
    dozen one-row reads rather than a scan.
    """
    high = await store.latest_seq()
    while low < high:
        mid = (low + high + 1) // 2
        found = await store.changes(mid - 1, limit=1)
        if found and found[0].seq <= high and found[0].ts < cutoff:
            low = found[0].seq
        else:
            high = mid - 1
    return low
