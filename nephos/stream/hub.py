"""The hub: a WebSocket server that tails the hot store's change feed and fans it out.

One feed task reads :meth:`HotStore.changes` (polling, or woken at once by :meth:`Hub.notify`
after a commit in the same process), encodes each event once and offers the batch to every
:class:`~nephos.stream.session.Session`. The HTTP side of the handshake (token check, query
parsing, ``GET /healthz``) happens in ``process_request``. Per-connection logic lives in
``session.py``; the wire messages in ``protocol.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nephos import __version__
from nephos.clock import Clock, SystemClock
from nephos.config.types import HubConfig
from nephos.errors import NephosError, StoreError
from nephos.model import AlertState
from nephos.stream.auth import check_listen, dial_url, is_loopback, parse_listen, token_presented
from nephos.stream.metrics import HubCollector
from nephos.stream.protocol import ProtocolError, Snapshot
from nephos.stream.session import Batch, RequestError, Session, SharedSnapshot
from nephos.stream.subscription import Filter, parse_query
from nephos.stream.transport import websockets_logger

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request, Response

    from nephos.store.base import HotStore
    from nephos.store.spool import SpoolingWriter
    from nephos.stream.ingest_server import IngestServer

__all__ = ["Hub", "check_listen", "dial_url", "is_loopback", "parse_listen", "serve_hub"]

log = logging.getLogger(__name__)

STREAM_PATHS = ("/", "/stream")
_FANOUT_SLICE = 200


class Hub:
    """The live stream server over a hot store.

    Args:
        store: an opened hot store; the hub does not open or close it.
        listen: ``host:port``; port 0 picks a free port (see :attr:`port`).
        token: required from every client when set; required to listen beyond loopback.
        clock: time for polling and acks.
        poll_interval: seconds between reads of the change feed when nothing calls notify().
        queue_size: events a client may have queued before it lags.
        max_lags: lags after which a client is closed with 1013.
        max_frame_bytes: the largest frame a client may send (larger: closed with 1009).
        page_size: events per read of the change feed.
        ping_interval, ping_timeout: the WebSocket keepalive that drops dead clients.
        registry: a prometheus_client CollectorRegistry for the hub's gauges.

    Raises:
        ConfigError: ``listen`` does not parse, or is beyond loopback without a token.
    """

    def __init__(
        self,
        store: HotStore,
        *,
        listen: str = "127.0.0.1:8765",
        token: str | None = None,
        clock: Clock | None = None,
        poll_interval: float = 0.05,
        queue_size: int = 1024,
        max_lags: int = 3,
        max_frame_bytes: int = 1024 * 1024,
        page_size: int = 500,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        registry: Any | None = None,
    ) -> None:
        self._host, self._port = check_listen(listen, token)
        self._store = store
        self._token = token or None
        self._clock: Clock = clock or SystemClock()
        self._poll_interval = poll_interval
        self._queue_size = queue_size
        self._max_lags = max_lags
        self._max_frame_bytes = max_frame_bytes
        self._page_size = page_size
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._registry = registry
        self._collector: HubCollector | None = None
        self._sessions: set[Session] = set()
        # The handshake's parsed query, until the connection's handler picks it up.
        self._pending: weakref.WeakKeyDictionary[ServerConnection, tuple[int | None, Filter]] = (
            weakref.WeakKeyDictionary()
        )
        self._position = 0
        self._wake = asyncio.Event()
        self._feed: asyncio.Task[None] | None = None
        self._server: Server | None = None
        self._shared: SharedSnapshot | None = None
        self._snapshot_lock = asyncio.Lock()
        self.lags_total = 0
        """Lags of connections that have closed (open ones count their own)."""
        self.ingest: IngestServer | None = None
        """The ``POST /ingest`` server beside the hub, while :func:`serve_hub` serves one."""

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._server is None:
            return self._port
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        """The ``ws://`` URL clients on this machine connect to."""
        return dial_url(f"[{self._host}]:{self.port}")

    @property
    def connection_count(self) -> int:
        """Clients connected now."""
        return len(self._sessions)

    @property
    def sessions(self) -> tuple[Session, ...]:
        """The connections served now."""
        return tuple(self._sessions)

    @property
    def position(self) -> int:
        """The newest seq the feed has read."""
        return self._position

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the feed and listen.

        Raises:
            StreamError: the address cannot be bound.
            StoreError: the store cannot be read.
        """
        from websockets.asyncio.server import serve

        from nephos.errors import StreamError

        self._position = await self._store.latest_seq()
        try:
            self._server = await serve(
                self._handle,
                self._host or None,
                self._port,
                process_request=self._process_request,
                max_size=self._max_frame_bytes,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                compression=None,
                server_header=f"nephos/{__version__}",
                logger=websockets_logger("nephos.stream.websockets"),
            )
        except OSError as exc:
            raise StreamError(f"the hub cannot listen on {self._host}:{self._port}: {exc}") from exc
        self._feed = asyncio.create_task(self._feed_loop(), name="nephos-hub-feed")
        if self._registry is not None:
            self._collector = HubCollector(self)
            self._registry.register(self._collector)
        log.info("hub listening on %s (auth %s)", self.url, "on" if self._token else "off")

    async def stop(self) -> None:
        """Close every connection (1001 going away) and stop the feed; idempotent."""
        if self._feed is not None:
            self._feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feed
            self._feed = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._collector is not None and self._registry is not None:
            self._registry.unregister(self._collector)
            self._collector = None

    def notify(self) -> None:
        """Wake the feed now: call after committing to the store, for the lowest latency."""
        self._wake.set()

    # ---- the feed

    async def _feed_loop(self) -> None:
        while True:
            if not self._sessions and await self._skip_unwatched():
                await self._idle()
                continue
            try:
                events = await self._store.changes(self._position, self._page_size)
            except StoreError as exc:
                log.warning("hub: cannot read the change feed: %s", exc)
                events = []
            if events:
                self._position = events[-1].seq
                batch = Batch(events)
                for n, session in enumerate(list(self._sessions), 1):
                    session.offer(batch)
                    if n % _FANOUT_SLICE == 0:
                        # Let the sentinel and the sessions run between slices of a big fan-out.
                        # Sessions that join meanwhile are covered by their snapshot or replay.
                        await asyncio.sleep(0)
                if len(events) == self._page_size:
                    continue  # more are waiting; read on before sleeping
            await self._idle()

    async def _skip_unwatched(self) -> bool:
        """With nobody connected, move to the newest seq without reading the events; False
        when a client connected meanwhile (the feed then reads on from where it was).

        Decoding and encoding every event for no one costs more than writing it (ingest).
        A client that connects later starts from a snapshot or a replay out of the store.
        """
        try:
            latest = await self._store.latest_seq()
        except StoreError as exc:
            log.warning("hub: cannot read the change feed: %s", exc)
            return True
        if self._sessions:
            return False
        self._position = max(self._position, latest)
        return True

    async def _idle(self) -> None:
        """Sleep one poll interval on the clock, or less if notify() is called."""
        if self._wake.is_set():
            self._wake.clear()
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(self._poll_interval))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            self._wake.clear()

    async def _snapshot(self) -> SharedSnapshot:
        """The current state, read once per seq however many clients ask."""
        async with self._snapshot_lock:
            seq = await self._store.latest_seq()
            if self._shared is None or self._shared.snapshot.seq != seq:
                results = await self._store.latest_results()
                instances = await self._store.instances()
                alerts = await self._store.alerts(
                    states=[AlertState.FIRING, AlertState.ACKNOWLEDGED]
                )
                snapshot = Snapshot(
                    seq=seq,
                    ts=self._clock.now(),
                    results=tuple(results),
                    instances=tuple(instances),
                    alerts=tuple(alerts),
                )
                self._shared = SharedSnapshot(snapshot)
            return self._shared

    async def _acknowledge(self, alert_id: str) -> None:
        alert = await self._store.get_alert(alert_id)
        if alert is None:
            raise RequestError("not_found", f"no alert with id {alert_id}")
        if alert.state is AlertState.RESOLVED:
            raise RequestError("resolved", f"alert {alert_id} is already resolved")
        if alert.state is AlertState.ACKNOWLEDGED:
            return
        now = self._clock.now()
        acked = replace(alert, state=AlertState.ACKNOWLEDGED, acknowledged_at=now, updated_at=now)
        try:
            await self._store.put_alert(acked, expected_version=alert.version)
        except StoreError as exc:
            raise RequestError("conflict", f"alert {alert_id} was not acknowledged: {exc}") from exc
        self.notify()

    # ---- connections

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == "/healthz":
            return self._json(connection, 200, self.health())
        if path not in STREAM_PATHS:
            return self._json(connection, 404, {"error": f"no such path {path}"})
        if self._token is not None and not self._authorised(request, query):
            response = self._json(connection, 401, {"error": "a valid token is required"})
            response.headers["WWW-Authenticate"] = 'Bearer realm="nephos"'
            return response
        try:
            self._pending[connection] = parse_query(query)
        except ProtocolError as exc:
            return self._json(connection, 400, {"error": str(exc)})
        return None

    def _authorised(self, request: Request, query: str) -> bool:
        assert self._token is not None
        return token_presented(self._token, request.headers.get("Authorization", ""), query)

    @staticmethod
    def _json(connection: ServerConnection, status: int, body: dict[str, Any]) -> Response:
        response = connection.respond(status, json.dumps(body) + "\n")
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    def health(self) -> dict[str, Any]:
        """What ``GET /healthz`` answers: status, server, connections and the newest seq."""
        return {
            "status": "ok" if self._feed is not None and not self._feed.done() else "stopping",
            "server": f"nephos/{__version__}",
            "connections": len(self._sessions),
            "seq": self._position,
        }

    async def _handle(self, ws: ServerConnection) -> None:
        since, subscription = self._pending.pop(ws, (None, Filter()))
        session = Session(
            ws,
            store=self._store,
            snapshot=self._snapshot,
            acknowledge=self._acknowledge,
            hello=f"nephos/{__version__}",
            since=since,
            subscription=subscription,
            queue_size=self._queue_size,
            max_lags=self._max_lags,
            page_size=self._page_size,
        )
        self._sessions.add(session)
        log.debug("stream client %s connected", session.name)
        try:
            await session.run()
        except NephosError as exc:
            log.warning("stream client %s: %s", session.name, exc)
        finally:
            self._sessions.discard(session)
            self.lags_total += session.lag_count
            log.debug("stream client %s disconnected", session.name)


@contextlib.asynccontextmanager
async def serve_hub(
    store: HotStore,
    hub_config: HubConfig,
    *,
    clock: Clock,
    registry: Any | None = None,
    writer: SpoolingWriter | None = None,
) -> AsyncIterator[Hub]:
    """Serve the hub over ``store`` for the duration of the block (used by the sentinel).

    With a ``writer`` (over the same store), ``POST /ingest`` is served too, on
    ``hub.ingest_listen`` (see :func:`nephos.stream.ingest_server.ingest_listen`), and the
    ingest server is :attr:`Hub.ingest`. The writer is neither started nor closed here.

    Over a DynamoDB hot store the table's stream also wakes the feed (see
    :func:`nephos.store.dynamo_stream.stream_wakeups`).

    Raises:
        ConfigError: a listen address is beyond loopback and there is no token.
        StreamError: an address cannot be bound.
        StoreError: over DynamoDB, the events table has no stream.
    """
    from nephos.store.dynamo_stream import stream_wakeups
    from nephos.stream.ingest_server import IngestServer, ingest_listen

    hub = Hub(
        store,
        listen=hub_config.listen,
        token=hub_config.token,
        clock=clock,
        max_frame_bytes=hub_config.max_frame_bytes,
        registry=registry,
    )
    ingest_at = ingest_listen(hub_config) if writer is not None else None
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(hub)
        if writer is not None and ingest_at is not None:
            server = IngestServer(
                writer,
                listen=ingest_at,
                token=hub_config.token,
                on_commit=hub.notify,
                health=hub.health,
            )
            hub.ingest = await stack.enter_async_context(server)
            stack.callback(setattr, hub, "ingest", None)
        # Over DynamoDB the table's stream wakes the feed as soon as a write lands anywhere
        # (another process, a Lambda); over SQLite this does nothing.
        await stack.enter_async_context(stream_wakeups(store, hub.notify, clock=clock))
        yield hub
