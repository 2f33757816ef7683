"""Pushing metric points to a hub's ``POST /ingest``, through a bounded on-disk buffer.

Every sample is appended to a :class:`~nephos.store.spool_file.Spool` first and sent from its
head, so points reach the hub in the order they were taken, and survive both an unreachable
hub and a restart of the agent. The head advances only after the hub answers 202 (committed
or durably spooled on its side). A full buffer refuses new samples (counted in
:attr:`MetricPusher.dropped`) rather than losing old ones. Sampling lives in ``host.py``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nephos.errors import StreamError
from nephos.model import MetricPoint, to_dict
from nephos.store.spool_file import Spool, SpoolFull
from nephos.stream.ingest import MAX_POINTS

if TYPE_CHECKING:
    import httpx

__all__ = ["MetricPusher"]

log = logging.getLogger(__name__)

_KIND = "metric"
_GZIP_FROM = 4096  # bodies at least this large are sent gzipped
_HOPELESS = (400, 413, 415, 422)  # answers that a resend would only repeat


class MetricPusher:
    """Buffers points on disk and sends them to ``url`` in order.

    Args:
        url: the hub's ingest URL (``http://127.0.0.1:8766/ingest``).
        buffer_dir: the buffer's directory (created when missing).
        buffer_max_bytes: the buffer's byte cap.
        token: sent as ``Authorization: Bearer``.
        timeout: seconds for one request.
        batch_points: points per request (at most the hub's 10,000).
        transport: an httpx transport (tests); the default connects over the network.

    Raises:
        StoreUnavailable: the buffer directory cannot be opened.
    """

    def __init__(
        self,
        url: str,
        *,
        buffer_dir: str | Path,
        buffer_max_bytes: int = 64 * 1024 * 1024,
        token: str | None = None,
        timeout: float = 10.0,
        batch_points: int = MAX_POINTS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        import httpx

        self.url = url
        self._spool = Spool(buffer_dir, max_bytes=buffer_max_bytes)
        self._batch = max(1, min(batch_points, MAX_POINTS))
        headers = {"Content-Type": "application/x-ndjson"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout, transport=transport)
        self._reachable = True
        self.delivered = 0
        """Points the hub accepted since start."""
        self.rejected = 0
        """Points the hub refused as invalid (set aside in the buffer's rejected.jsonl)."""

    @property
    def pending(self) -> int:
        """Points buffered and not yet accepted by the hub."""
        return self._spool.pending()

    @property
    def dropped(self) -> int:
        """Points not buffered because the buffer was full (or its disk failed)."""
        return self._spool.refused

    async def close(self) -> None:
        """Close the HTTP client; buffered points stay on disk for the next start."""
        await self._client.aclose()

    async def enqueue(self, points: Sequence[MetricPoint]) -> bool:
        """Append ``points`` to the buffer, durably; False when the buffer refused them."""
        try:
            await asyncio.to_thread(self._spool.append, _KIND, [to_dict(p) for p in points])
        except SpoolFull as exc:
            log.error("agent: %s", exc)
            return False
        return True

    async def drain(self) -> bool:
        """Send buffered points, oldest first, until the buffer is empty or the hub fails.

        Returns True when the buffer is empty afterwards.

        Raises:
            StoreUnavailable: the buffer's cursor cannot be written.
        """
        limit = self._batch
        while True:
            records = await asyncio.to_thread(self._spool.peek, limit)
            if not records:
                return True
            try:
                status, reason, index = await self._post([r.data for r in records])
            except StreamError as exc:
                self._unreachable(str(exc))
                return False
            if status == 400 and index is not None and 0 < index < len(records):
                # The hub takes a request whole or not at all, and it named the first bad
                # point: send the good ones before it on their own, then deal with it.
                limit = index
                continue
            limit = self._batch
            if status in _HOPELESS:
                # Points that can never be accepted: set aside for a human, and go on.
                culprits = records[:1] if index == 0 else records
                log.error("agent: the hub refused %d point(s): %s", len(culprits), reason)
                await asyncio.to_thread(self._spool.reject, culprits, reason)
                self.rejected += len(culprits)
                records = culprits
            elif status != 202:
                self._unreachable(f"the hub answered {status}: {reason}")
                return False
            else:
                self.delivered += len(records)
                log.info("agent: sent %d point(s) to %s", len(records), self.url)
            await asyncio.to_thread(self._spool.advance, records[-1].serial)
            if not self._reachable:
                self._reachable = True
                log.warning("agent: the hub is reachable again; sending the buffer")

    async def _post(self, points: list[dict[str, object]]) -> tuple[int, str, int | None]:
        """POST one batch; the status, the hub's reason and the index of the point to blame.

        Raises:
            StreamError: the hub could not be reached or did not answer in time.
        """
        import httpx

        body = "".join(json.dumps(p, separators=(",", ":")) + "\n" for p in points).encode()
        headers = {}
        if len(body) >= _GZIP_FROM:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise StreamError(f"cannot reach {self.url}: {exc or type(exc).__name__}") from exc
        if response.status_code == 202:
            return 202, "", None
        try:
            answer = response.json()
            reason, index = str(answer.get("error", "")), answer.get("index")
        except (ValueError, AttributeError):
            reason, index = response.text[:200], None
        return response.status_code, reason, index if isinstance(index, int) else None

    def _unreachable(self, why: str) -> None:
        # Once per outage at warning level: an agent ticking every 10 s must not flood the log.
        level = logging.WARNING if self._reachable else logging.DEBUG
        log.log(level, "agent: %s; %d point(s) buffered", why, self.pending)
        self._reachable = False
