"""One client connection inside the hub: its outbox, its cursor, replay, resync and requests.

The hub's feed task calls :meth:`Session.offer` with every committed batch; offer never blocks
and never awaits, so a slow client cannot slow the feed or anyone else. The session's sender
task owns every state change (cursor, filter, replay, resync); its receiver task only queues
control replies and requests, and performs acks. Nothing at or below the cursor is ever sent,
which is what makes replay-then-live free of gaps and duplicates.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from websockets.protocol import State

from nephos.errors import NephosError
from nephos.model import Event
from nephos.stream.protocol import (
    Ack,
    ErrorMessage,
    Hello,
    Lag,
    Ping,
    Pong,
    ProtocolError,
    Resync,
    Snapshot,
    Subscribe,
    encode,
    event_frame,
    event_frames,
    parse_client_message,
)
from nephos.stream.subscription import Filter

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from nephos.store.base import HotStore

__all__ = ["Batch", "RequestError", "Session", "SharedSnapshot"]

log = logging.getLogger(__name__)

Queued = tuple[Event, str]
"""An event and its encoded text, queued in a session's outbox."""

WRITE_LIMIT = 256 * 1024
"""Bytes buffered on a connection beyond which events go through its outbox instead."""

CLOSE_POLICY = 1008
CLOSE_TRY_AGAIN_LATER = 1013


class RequestError(NephosError):
    """A client's request (an ack) cannot be done; ``code`` goes into the error frame."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(slots=True)
class SharedSnapshot:
    """A snapshot shared by every session that asks while the store stands still, with its
    encoded text cached, so that a crowd connecting at once costs one read and one encode."""

    snapshot: Snapshot
    texts: dict[bool, str] = field(default_factory=dict)

    def text(self, *, resync: bool) -> str:
        """The encoded frame, with ``resync`` set as asked."""
        if resync not in self.texts:
            self.texts[resync] = encode(replace(self.snapshot, resync=resync))
        return self.texts[resync]


class Batch:
    """Events the feed read together, each encoded once for every session.

    ``texts`` are the JSON frames for a session's own sends; ``wire`` holds each event as a
    complete WebSocket text frame (unmasked, uncompressed: the hub turns compression off), so
    that an idle connection gets the bytes written straight to its transport. That is the fan-out
    fast path: one write per client per batch instead of one task wake-up and send per event.
    """

    __slots__ = ("_joined", "_wire", "events", "texts")

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = tuple(events)
        self.texts = tuple(event_frames(self.events))
        self._wire: tuple[bytes, ...] | None = None
        self._joined: bytes | None = None

    @property
    def wire(self) -> tuple[bytes, ...]:
        """Each event as WebSocket frame bytes, encoded on first use."""
        if self._wire is None:
            self._wire = tuple(_text_frame(text.encode()) for text in self.texts)
        return self._wire

    @property
    def joined(self) -> bytes:
        """Every event's frame bytes, back to back."""
        if self._joined is None:
            self._joined = b"".join(self.wire)
        return self._joined


def _text_frame(payload: bytes) -> bytes:
    """``payload`` as one final, unmasked, uncompressed WebSocket text frame (RFC 6455 5.2).

    What ``Frame(Opcode.TEXT, payload).serialize(mask=False)`` writes, at a fraction of the
    cost: the header is two bytes plus the length.
    """
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


class Session:
    """The hub's side of one connection.

    Args:
        ws: the accepted connection.
        store: the hot store, for snapshots, replay and acks.
        snapshot: builds the current snapshot (shared and cached by the hub).
        acknowledge: acknowledges an alert; raises NephosError with a message for the client.
        hello: the server's name for the hello frame.
        since: replay after this seq instead of starting from a snapshot.
        subscription: the connection's filter.
        queue_size: events the outbox holds before the client counts as lagging.
        max_lags: the lag count at which the connection is closed with 1013.
        page_size: events read from the store per replay page.
    """

    def __init__(
        self,
        ws: ServerConnection,
        *,
        store: HotStore,
        snapshot: Callable[[], Awaitable[SharedSnapshot]],
        acknowledge: Callable[[str], Awaitable[None]],
        hello: str,
        since: int | None,
        subscription: Filter,
        queue_size: int,
        max_lags: int,
        page_size: int,
    ) -> None:
        self.ws = ws
        self.name = _peer(ws)
        self._store = store
        self._snapshot = snapshot
        self._acknowledge = acknowledge
        self._hello = hello
        self._queue_size = queue_size
        self._max_lags = max_lags
        self._page_size = page_size
        self.filter = subscription
        self.cursor = 0
        """The newest seq sent (or covered by the snapshot sent); nothing at or below it is sent."""
        self.outbox: collections.deque[Queued] = collections.deque()
        self.lag_count = 0
        self._control: collections.deque[str] = collections.deque()
        self._request: Subscribe | Resync | None = Subscribe(
            since=since,
            kinds=tuple(subscription.kinds),
            providers=tuple(subscription.providers),
            targets=tuple(subscription.targets),
        )
        self._replaying = False
        self._snapshots_sent = 0
        self._replay_floor = 0
        self._lagging = False
        self._dropped = 0
        self._closing: asyncio.Task[None] | None = None
        self._idle = False
        self._wake = asyncio.Event()
        self._wake.set()

    # ---- the feed side: synchronous, never blocks

    def offer(self, batch: Batch) -> None:
        """Send or queue the events of ``batch`` that this client wants, or mark it lagging."""
        if self._closing is not None:
            return
        events = batch.events
        # The common case first (no filter, the whole batch new, the connection idle): one write
        # of the batch's joined frames, with nothing allocated. Seqs ascend within a batch.
        if (
            events
            and self.filter.everything
            and events[0].seq > self.cursor
            and len(events) <= self._queue_size
            and self._writable_now()
        ):
            self.ws.transport.write(batch.joined)
            self.cursor = events[-1].seq
            return
        indexes: Sequence[int] = range(len(events))
        if not self.filter.everything:
            indexes = [i for i, event in enumerate(events) if self.filter.matches(event)]
            if not indexes:
                return
        # A burst larger than the queue lags on either path, so the queue size means one thing.
        if len(indexes) <= self._queue_size and self._writable_now():
            fresh = [i for i in indexes if events[i].seq > self.cursor]
            if fresh:
                whole = len(fresh) == len(events)
                self.ws.transport.write(
                    batch.joined if whole else b"".join(batch.wire[i] for i in fresh)
                )
                self.cursor = events[fresh[-1]].seq
            return
        wanted = [(events[i], batch.texts[i]) for i in indexes]
        if self._lagging:
            # A resync is pending and the snapshot will cover these. A client that cannot even
            # take the lag notice while another queue's worth goes by is stuck: count it again.
            self._dropped += len(wanted)
            if self._dropped >= self._queue_size * (self.lag_count + 1):
                self._lagged()
            return
        if len(self.outbox) + len(wanted) <= self._queue_size:
            self.outbox.extend(wanted)
        elif self._replaying or self._request is not None:
            # A pending snapshot covers these, and a replay reads them from the store instead;
            # it must reach at least this far.
            self._replay_floor = wanted[-1][0].seq
            self.outbox.clear()
        else:
            self._dropped = len(self.outbox) + len(wanted)
            self.outbox.clear()
            self._lagging = True
            self._lagged()
        self._wake.set()

    def _writable_now(self) -> bool:
        """Whether the feed may write to the connection itself: the sender has nothing in hand
        (so order holds) and the connection takes data without buffering much."""
        transport = self.ws.transport
        return (
            self._idle
            and not self.outbox
            and not self._control
            and self._request is None
            and not self._lagging
            and not self._replaying
            and self.ws.protocol.state is State.OPEN  # what ws.state reads, one call fewer
            and not transport.is_closing()
            and transport.get_write_buffer_size() < WRITE_LIMIT
        )

    def _lagged(self) -> None:
        self.lag_count += 1
        if self.lag_count >= self._max_lags:
            self.close(CLOSE_TRY_AGAIN_LATER, f"too slow: lagged {self.lag_count} times")

    def close(self, code: int, reason: str) -> None:
        """Close the connection with ``code`` in the background; idempotent."""
        if self._closing is None:
            log.info("closing stream client %s: %d %s", self.name, code, reason)
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    # ---- the connection's own tasks

    async def run(self) -> None:
        """Serve the connection until it closes."""
        sender = asyncio.create_task(self._send_loop())
        try:
            await self._receive_loop()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            if self._closing is not None:
                with contextlib.suppress(Exception):
                    await self._closing

    async def _receive_loop(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for text in self.ws:
                try:
                    message = parse_client_message(text)
                except ProtocolError as exc:
                    await self.ws.close(CLOSE_POLICY, _reason(str(exc)))
                    return
                if isinstance(message, Ping):
                    self._control.append(encode(Pong(t=message.t)))
                elif isinstance(message, Ack):
                    await self._ack(message.alert_id)
                else:
                    self._request = message
                self._wake.set()

    async def _ack(self, alert_id: str) -> None:
        try:
            await self._acknowledge(alert_id)
        except RequestError as exc:
            self._reply_error(exc.code, str(exc), alert_id)
        except NephosError as exc:
            self._reply_error("store_error", str(exc), alert_id)

    def _reply_error(self, code: str, message: str, ref: str) -> None:
        self._control.append(encode(ErrorMessage(code=code, message=message, ref=ref)))

    async def _send_loop(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(
                encode(Hello(seq=await self._store.latest_seq(), server=self._hello))
            )
            while True:
                self._idle = True
                await self._wake.wait()
                self._idle = False
                self._wake.clear()
                await self._flush()
        except ConnectionClosed:
            return
        except NephosError as exc:
            log.warning("stream client %s: %s", self.name, exc)
            self.close(1011, "the hub could not read the store")
        except Exception:
            # Without its sender the connection would look alive and say nothing: close it.
            log.exception("stream client %s: the sender failed", self.name)
            self.close(1011, "internal error")

    async def _flush(self) -> None:
        while True:
            while self._control:
                await self.ws.send(self._control.popleft())
            if self._lagging:
                lag = Lag(self.cursor, self._dropped, self.lag_count, self._max_lags)
                self._lagging = False
                self._dropped = 0
                # From here the resync snapshot covers whatever overflows (see offer()).
                self._request = Resync()
                await self.ws.send(encode(lag))
            elif self._request is not None:
                request = self._request
                await self._serve_request(request)
                # Cleared only now: while it is served, an overflow is not a lag.
                if self._request is request:
                    self._request = None
            elif self._replaying:
                await self._replay()
            elif self.outbox:
                event, frame = self.outbox.popleft()
                if event.seq > self.cursor and self.filter.matches(event):
                    await self.ws.send(frame)
                    self.cursor = event.seq
            else:
                return

    async def _serve_request(self, request: Subscribe | Resync) -> None:
        if isinstance(request, Subscribe):
            self.filter = Filter.of(request)
        if isinstance(request, Resync) or request.since is None:
            await self._send_snapshot()
        elif request.since > await self._store.latest_seq():
            # The client is ahead of this store (it was reset): only a snapshot can help.
            await self._send_snapshot()
        else:
            self.cursor = request.since
            self._replaying = True

    async def _replay(self) -> None:
        """Send stored events after the cursor until the store and the outbox meet."""
        while True:
            events = await self._store.changes(self.cursor, self._page_size)
            for event in events:
                if self.filter.matches(event):
                    await self.ws.send(event_frame(event))
                self.cursor = event.seq
            while self._control:  # pongs keep their round trip true during a long replay
                await self.ws.send(self._control.popleft())
            if len(events) < self._page_size and self.cursor >= self._replay_floor:
                break
        self._replaying = False

    async def _send_snapshot(self) -> None:
        shared = await self._snapshot()
        # Only the first snapshot of a connection is not a resync.
        resync = self._snapshots_sent > 0
        if self.filter.everything:
            text = shared.text(resync=resync)
        else:
            snapshot = shared.snapshot
            text = encode(
                replace(
                    snapshot,
                    results=self.filter.results(snapshot.results),
                    instances=self.filter.instances(snapshot.instances),
                    alerts=self.filter.alerts(snapshot.alerts),
                    resync=resync,
                )
            )
        self.cursor = shared.snapshot.seq
        self._snapshots_sent += 1
        await self.ws.send(text)
        # Events that overflowed after the snapshot was read are newer than it: replay them.
        self._replaying = self._replay_floor > self.cursor


def _reason(text: str) -> str:
    """``text`` cut to fit a close frame's reason (123 bytes of UTF-8)."""
    return text.encode()[:120].decode("utf-8", "ignore")


def _peer(ws: ServerConnection) -> str:
    try:
        host, port = ws.remote_address[:2]
    except (TypeError, ValueError):
        return "unknown"
    return f"{host}:{port}"
