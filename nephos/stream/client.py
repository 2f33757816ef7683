"""The resumable stream client: reconnect policy, resume by seq, round trips, connection state.

:class:`StreamClient` sits over a :class:`~nephos.stream.transport.Transport` (after httpx): the
transport moves text frames, the client decides when to connect, what to resume from and what
to hand to its caller. ``async for message in client.messages()`` yields typed messages only:
the protocol's server messages and :class:`StateChange` whenever the connection state moves.
A Textual worker consumes it as is and posts each message to the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from nephos.clock import Clock, SystemClock
from nephos.errors import StreamError
from nephos.model import EventKind
from nephos.stream.backoff import Backoff
from nephos.stream.protocol import (
    Ack,
    ErrorMessage,
    EventMessage,
    Hello,
    Lag,
    Ping,
    Pong,
    ProtocolError,
    Resync,
    Snapshot,
    encode,
    parse_server_message,
)
from nephos.stream.transport import (
    AuthError,
    ConnectError,
    Connection,
    StreamClosed,
    StreamEnded,
    Transport,
)

__all__ = ["ConnectionState", "Phase", "StateChange", "StreamClient", "StreamMessage"]

log = logging.getLogger(__name__)


class Phase(enum.StrEnum):
    """Where the client's connection stands."""

    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class ConnectionState:
    """What a header pill shows about the connection."""

    phase: Phase
    attempt: int = 0
    """Connection attempts since the stream was last live."""
    retry_in: float | None = None
    """Seconds until the next attempt, while reconnecting."""
    retry_at: float | None = None
    """The client clock's ``monotonic()`` at the next attempt, for a countdown."""
    reason: str | None = None
    """Why the last connection ended or failed, in words."""


@dataclass(frozen=True, slots=True)
class StateChange:
    """The connection state moved; yielded in the message stream."""

    state: ConnectionState


StreamMessage: TypeAlias = Hello | Snapshot | EventMessage | Lag | ErrorMessage | StateChange


class StreamClient:
    """A live stream from a hub that survives disconnects without losing or repeating events.

    Args:
        url: the hub, ``ws://host:port/``.
        transport: how to connect; a :class:`~nephos.stream.transport.WebSocketTransport` by
            default.
        token: sent as ``Authorization: Bearer``; never logged.
        since: resume after this seq instead of starting from a snapshot.
        kinds, providers, targets: subscription filters; None or empty means everything.
        clock: time for backoff, pings and round trips.
        rng: the random source of the backoff's jitter.
        ping_interval: seconds between round-trip pings.
        ping_timeout: seconds of silence after which the connection is presumed dead.
        max_retries: give up (offline) after this many failed attempts in a row; None: never.
        buffer: messages read ahead of the consumer before the client stops reading.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: Transport | None = None,
        token: str | None = None,
        since: int | None = None,
        kinds: Sequence[EventKind] | None = None,
        providers: Sequence[str] | None = None,
        targets: Sequence[str] | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        ping_interval: float = 5.0,
        ping_timeout: float = 15.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retries: int | None = None,
        buffer: int = 4096,
    ) -> None:
        if transport is None:
            from nephos.stream.transport import WebSocketTransport

            transport = WebSocketTransport()
        self._url = url
        self._transport = transport
        self._token = token
        self._filters = {
            "kinds": ",".join(k.value for k in kinds or ()),
            "providers": ",".join(providers or ()),
            "targets": ",".join(targets or ()),
        }
        self._clock: Clock = clock or SystemClock()
        self._backoff = Backoff(rng or random.Random(), base=backoff_base, cap=backoff_cap)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_retries = max_retries
        self._last_seq = since
        self._state = ConnectionState(Phase.OFFLINE)
        self._rtt_ms: float | None = None
        self._conn: Connection | None = None
        self._last_heard = 0.0
        self._consumer_behind = False
        self._buffer = buffer
        self._closed = False
        self._wake = asyncio.Event()

    @property
    def state(self) -> ConnectionState:
        """The current connection state."""
        return self._state

    @property
    def rtt_ms(self) -> float | None:
        """The last measured round trip to the hub in milliseconds, or None before the first."""
        return self._rtt_ms

    @property
    def last_seq(self) -> int | None:
        """The newest seq this client has seen; reconnects resume after it."""
        return self._last_seq

    async def messages(self) -> AsyncGenerator[StreamMessage, None]:
        """Every message from the hub, plus state changes, across reconnects.

        Ends when :meth:`close` is called or the transport has nothing more (a recording).

        Raises:
            AuthError: the hub refused the token.
            StreamError: ``max_retries`` attempts failed in a row.
            ProtocolError: the hub speaks another protocol version.
        """
        while not self._closed:
            yield self._move(ConnectionState(Phase.CONNECTING, attempt=self._backoff.attempt + 1))
            try:
                self._conn = await self._transport.connect(self._connect_url(), self._headers())
            except AuthError as exc:
                yield self._move(ConnectionState(Phase.OFFLINE, reason=str(exc)))
                raise
            except ConnectError as exc:
                reason = str(exc)
            else:
                try:
                    # aclosing: if our consumer stops early, the session's tasks stop with it.
                    async with contextlib.aclosing(self._session(self._conn)) as session:
                        async for message in session:
                            yield message
                    reason = "the hub closed the stream"
                except StreamEnded as exc:
                    yield self._move(ConnectionState(Phase.OFFLINE, reason=str(exc)))
                    return
                except StreamClosed as exc:
                    reason = str(exc)
                except ProtocolError as exc:
                    yield self._move(ConnectionState(Phase.OFFLINE, reason=str(exc)))
                    raise
                finally:
                    conn, self._conn = self._conn, None
                    await conn.close()
            if self._closed:
                break
            if self._max_retries is not None and self._backoff.attempt >= self._max_retries:
                yield self._move(ConnectionState(Phase.OFFLINE, reason=reason))
                raise StreamError(f"giving up after {self._backoff.attempt} attempts: {reason}")
            delay = self._backoff.next_delay()
            retry_at = self._clock.monotonic() + delay
            yield self._move(
                ConnectionState(
                    Phase.RECONNECTING,
                    attempt=self._backoff.attempt,
                    retry_in=delay,
                    retry_at=retry_at,
                    reason=reason,
                )
            )
            await self._pause_until(retry_at)
        yield self._move(ConnectionState(Phase.OFFLINE, reason="closed"))

    async def _session(self, conn: Connection) -> AsyncGenerator[StreamMessage, None]:
        """The messages of one connection; raises StreamClosed when it ends."""
        inbox: asyncio.Queue[StreamMessage | StreamError] = asyncio.Queue(self._buffer)
        reader = asyncio.create_task(self._read_loop(conn, inbox))
        pinger: asyncio.Task[None] | None = None
        try:
            while True:
                message = await inbox.get()
                if isinstance(message, StreamError):
                    raise message
                if pinger is None:  # the reader let only a hello through first
                    self._backoff.reset()
                    pinger = asyncio.create_task(self._ping_loop(conn))
                    yield self._move(ConnectionState(Phase.LIVE))
                if isinstance(message, EventMessage):
                    if self._last_seq is not None and message.seq <= self._last_seq:
                        continue  # already seen: a replay overlapped what we had
                    self._last_seq = message.seq
                elif isinstance(message, Snapshot):
                    # A snapshot is authoritative, also when the store was reset to lower seqs.
                    self._last_seq = message.seq
                yield message
        finally:
            for task in (reader, pinger):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _read_loop(
        self, conn: Connection, inbox: asyncio.Queue[StreamMessage | StreamError]
    ) -> None:
        """Read frames as they come, whatever the consumer's pace, so that round trips and
        liveness stay true; a full inbox pushes back on the hub, which resyncs us."""
        greeted = False
        try:
            while True:
                text = await conn.recv()
                self._last_heard = self._clock.monotonic()
                try:
                    message = parse_server_message(text)
                except ProtocolError:
                    if not greeted:
                        raise  # the first frame does not parse: another protocol altogether
                    log.warning("skipping a malformed frame from the hub")
                    continue
                if not greeted and not isinstance(message, Hello):
                    raise ProtocolError(f"expected hello first, got {message.type}")
                greeted = True
                if isinstance(message, Pong):
                    self._rtt_ms = max(0.0, self._clock.monotonic() * 1000 - message.t)
                    continue
                self._consumer_behind = inbox.full()
                await inbox.put(message)
                self._consumer_behind = False
        except StreamError as exc:
            await inbox.put(exc)
        except Exception as exc:  # a bug must not leave the consumer waiting forever
            log.exception("the stream reader failed")
            await inbox.put(StreamClosed(f"the stream reader failed: {exc}"))

    async def _ping_loop(self, conn: Connection) -> None:
        """Measure the round trip, and drop a connection that has gone silent."""
        while True:
            try:
                await conn.send(encode(Ping(t=self._clock.monotonic() * 1000)))
            except StreamClosed:
                return
            await self._clock.sleep(self._ping_interval)
            silent = self._clock.monotonic() - self._last_heard
            # A consumer that is behind stops the reader, so silence is then no evidence.
            if silent > self._ping_timeout and not self._consumer_behind:
                log.info("no answer from the hub for %.0f s; reconnecting", silent)
                await conn.close()
                return

    async def send_ack(self, alert_id: str) -> None:
        """Acknowledge an alert through the hub; a failure comes back as an ErrorMessage.

        Raises:
            StreamError: the client is not connected.
        """
        await self._send(encode(Ack(alert_id=alert_id)))

    async def resync(self) -> None:
        """Ask the hub for a fresh snapshot.

        Raises:
            StreamError: the client is not connected.
        """
        await self._send(encode(Resync()))

    async def _send(self, text: str) -> None:
        if self._conn is None or self._state.phase is not Phase.LIVE:
            raise StreamError("not connected to the hub")
        await self._conn.send(text)

    def reconnect_now(self) -> None:
        """While reconnecting, cut the backoff short and try again at once."""
        if self._state.phase is Phase.RECONNECTING:
            self._wake.set()

    async def close(self) -> None:
        """Stop: close the connection and end :meth:`messages`."""
        self._closed = True
        self._wake.set()
        if self._conn is not None:
            await self._conn.close()

    def _move(self, state: ConnectionState) -> StateChange:
        self._state = state
        return StateChange(state)

    async def _pause_until(self, deadline: float) -> None:
        """Sleep on the clock until ``deadline``, unless reconnect_now() or close() wakes us."""
        # The deadline, not a duration: the caller may have let time pass while it held the
        # state change that announced the wait.
        seconds = deadline - self._clock.monotonic()
        if seconds <= 0 or self._wake.is_set():
            self._wake.clear()
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            self._wake.clear()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _connect_url(self) -> str:
        parts = urlsplit(self._url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("since", *self._filters)]
        if self._last_seq is not None:
            query.append(("since", str(self._last_seq)))
        query.extend((k, v) for k, v in self._filters.items() if v)
        return urlunsplit(parts._replace(query=urlencode(query)))
