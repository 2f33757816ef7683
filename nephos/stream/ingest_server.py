"""The hub's HTTP side: ``POST /ingest`` (metric points in) and ``GET /healthz``, on aiohttp.

websockets' server reads only the head of a request (it refuses any body), so ingest has its
own small aiohttp server beside the WebSocket port (``hub.ingest_listen``, by default the next
port). It shares the hub's token rules. Accepted points go through a
:class:`~nephos.store.spool.SpoolingWriter`: the answer (202) comes only once they are committed
to the hot store or durably spooled, and the store's change feed streams them as ``metric``
events. Body parsing and validation live in ``ingest.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nephos.errors import NephosError, StoreError, StreamError
from nephos.store.spool_file import SpoolFull
from nephos.stream.auth import check_listen, parse_listen, token_presented
from nephos.stream.ingest import (
    MAX_BODY_BYTES,
    MAX_POINTS,
    IngestRefused,
    decode_body,
    parse_points,
)

if TYPE_CHECKING:
    from aiohttp import web

    from nephos.config.types import HubConfig
    from nephos.model import MetricPoint
    from nephos.store.spool import SpoolingWriter

__all__ = ["INGEST_PATH", "IngestServer", "ingest_listen"]

log = logging.getLogger(__name__)

INGEST_PATH = "/ingest"
_RETRY_AFTER_S = "5"
_INLINE_BYTES = 64 * 1024  # smaller bodies are parsed on the loop; larger ones in a thread


def ingest_listen(hub_config: HubConfig) -> str | None:
    """Where ingest listens: ``hub.ingest_listen``, else the hub's host and its port + 1.

    None when ingest is switched off (``ingest_listen: false``). A hub on port 0 (any free
    port) gets ingest on port 0 as well.

    Raises:
        ConfigError: an address does not read as host:port.
    """
    if hub_config.ingest_listen == "off":
        return None
    if hub_config.ingest_listen:
        parse_listen(hub_config.ingest_listen)
        return hub_config.ingest_listen
    host, port = parse_listen(hub_config.listen)
    port = port + 1 if 0 < port < 65535 else 0
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class IngestServer:
    """``POST /ingest`` and ``GET /healthz`` over HTTP.

    Args:
        writer: writes accepted points to the hot store, or spools them while it is down. The
            server neither starts nor closes it.
        listen: ``host:port``; port 0 picks a free port (see :attr:`port`).
        token: required from every poster when set; required to listen beyond loopback.
        on_commit: called after points are committed to the store (the hub's ``notify``).
        health: the JSON that ``GET /healthz`` answers (the hub's), or a bare ``ok``.
        max_points: points one request may carry.
        max_body_bytes: the largest body, as sent and once decompressed.

    Raises:
        ConfigError: ``listen`` does not parse, or is beyond loopback without a token.
    """

    def __init__(
        self,
        writer: SpoolingWriter,
        *,
        listen: str = "127.0.0.1:8766",
        token: str | None = None,
        on_commit: Callable[[], None] | None = None,
        health: Callable[[], dict[str, Any]] | None = None,
        max_points: int = MAX_POINTS,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._host, self._port = check_listen(listen, token)
        self._writer = writer
        self._token = token or None
        self._on_commit = on_commit
        self._health = health
        self._max_points = max_points
        self._max_body_bytes = max_body_bytes
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self.accepted_total = 0
        """Points accepted (committed or spooled) since start."""
        self.spooled_total = 0
        """Of those, points that went to the spool because the store was down."""
        self.refused_total = 0
        """Requests refused (bad input, too large, unauthorised, spool full)."""

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return self._bound_port if self._bound_port is not None else self._port

    @property
    def url(self) -> str:
        """The ``http://`` URL of ``POST /ingest`` from this machine."""
        host = self._host
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard is dialled on this machine
            host = "127.0.0.1"
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}{INGEST_PATH}"

    async def __aenter__(self) -> IngestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen.

        Raises:
            StreamError: the address cannot be bound.
        """
        from aiohttp import web

        # client_max_size makes aiohttp refuse a larger body with 413 before reading it all.
        app = web.Application(client_max_size=self._max_body_bytes)
        app.router.add_post(INGEST_PATH, self._ingest)
        app.router.add_get("/healthz", self._healthz)
        # auto_decompress off: decode_body inflates gzip itself, with its own cap.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host or None, self._port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StreamError(
                f"ingest cannot listen on {self._host}:{self._port} (hub.ingest_listen): {exc}"
            ) from exc
        self._runner = runner
        addresses = runner.addresses
        self._bound_port = int(addresses[0][1]) if addresses else self._port
        log.info("ingest listening on %s (auth %s)", self.url, "on" if self._token else "off")

    async def stop(self) -> None:
        """Stop listening; requests in flight finish first. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ---- routes

    async def _healthz(self, request: web.Request) -> web.Response:
        body = self._health() if self._health is not None else {"status": "ok"}
        return _json(200, body)

    async def _ingest(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if self._token is not None and not token_presented(
            self._token, request.headers.get("Authorization", ""), request.query_string
        ):
            self.refused_total += 1
            response = _json(401, {"error": "a valid token is required"})
            response.headers["WWW-Authenticate"] = 'Bearer realm="nephos"'
            return response
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            too_large = IngestRefused(413, f"the body is over {self._max_body_bytes} bytes")
            return self._refuse(too_large)
        try:
            if len(raw) > _INLINE_BYTES:
                # Parsing 10,000 points takes tens of milliseconds: keep the hub's loop free.
                points = await asyncio.to_thread(self._parse, raw, request)
            else:
                points = self._parse(raw, request)
        except IngestRefused as exc:
            return self._refuse(exc)
        return await self._store(points)

    def _parse(self, raw: bytes, request: web.Request) -> list[MetricPoint]:
        body = decode_body(
            raw, request.headers.get("Content-Encoding", ""), max_bytes=self._max_body_bytes
        )
        return parse_points(
            body, request.headers.get("Content-Type", ""), max_points=self._max_points
        )

    async def _store(self, points: list[MetricPoint]) -> web.Response:
        try:
            # Shielded: a poster that hangs up must not cut a write (or a spool append) short.
            committed = await asyncio.shield(self._writer.write_metrics(points))
        except SpoolFull as exc:
            log.error("ingest: refused %d point(s): %s", len(points), exc)
            self.refused_total += 1
            response = _json(503, {"error": "the store is unavailable and the spool is full"})
            response.headers["Retry-After"] = _RETRY_AFTER_S
            return response
        except StoreError as exc:
            log.error("ingest: the store refused %d point(s): %s", len(points), exc)
            self.refused_total += 1
            return _json(500, {"error": f"the store refused the points: {exc}"})
        except NephosError as exc:  # pragma: no cover - the writer raises only store errors
            self.refused_total += 1
            return _json(500, {"error": str(exc)})
        self.accepted_total += len(points)
        if committed:
            if self._on_commit is not None:
                self._on_commit()
        else:
            self.spooled_total += len(points)
        return _json(202, {"accepted": len(points), "spooled": not committed})

    def _refuse(self, exc: IngestRefused) -> web.Response:
        self.refused_total += 1
        log.debug("ingest: refused a request (%d): %s", exc.status, exc)
        return _json(exc.status, exc.body())


def _json(status: int, body: dict[str, Any]) -> web.Response:
    from aiohttp import web

    return web.Response(
        status=status, text=json.dumps(body) + "\n", content_type="application/json"
    )
