"""MockTransport: an in-memory hub for tests, the TUI and demos, scripted from the outside.

It speaks the real protocol (hello, snapshot, replay after ``since``, pong, resync, and acks
that publish the acknowledged alert) from a history of events that the script publishes. It
can refuse connections, reject the token and drop every open connection, so a client on it
behaves as it would against a real hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nephos.clock import Clock, SystemClock
from nephos.model import AlertState, EventKind, to_dict
from nephos.stream.protocol import (
    Ack,
    ClientMessage,
    ErrorMessage,
    EventMessage,
    Hello,
    Ping,
    Pong,
    ProtocolError,
    Resync,
    ServerMessage,
    Snapshot,
    Subscribe,
    encode,
    parse_client_message,
)
from nephos.stream.transport import AuthError, ConnectError, Connection, StreamClosed, Transport

__all__ = ["MockTransport"]


class _Close:
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class _MockConnection(Connection):
    def __init__(self, hub: MockTransport) -> None:
        self._hub = hub
        self._inbox: asyncio.Queue[str | _Close] = asyncio.Queue()
        self.closed = False

    def deliver(self, frame: str | _Close) -> None:
        if not self.closed:
            self._inbox.put_nowait(frame)
            if isinstance(frame, _Close):
                self.closed = True

    async def send(self, text: str) -> None:
        if self.closed:
            raise StreamClosed("the mock connection is closed")
        try:
            message = parse_client_message(text)
        except ProtocolError as exc:
            self.deliver(_Close(1008, str(exc)[:120]))
            return
        self._hub._on_client_message(self, message)

    async def recv(self) -> str:
        frame = await self._inbox.get()
        if isinstance(frame, _Close):
            self._inbox.put_nowait(frame)  # every later recv() sees the close too
            raise StreamClosed(
                f"the mock hub closed the stream ({frame.code})",
                code=frame.code,
                reason=frame.reason,
            )
        return frame

    async def close(self) -> None:
        self.deliver(_Close(1000, "closed by the client"))


class MockTransport(Transport):
    """An in-memory hub.

    Args:
        snapshot: the state a new connection without ``since`` receives first; events published
            after it are replayed to it.
        clock: stamps published events.
        answer_pings: answer pings with pongs (turn off to simulate a silent, half-open link).
    """

    def __init__(
        self,
        *,
        snapshot: Snapshot | None = None,
        clock: Clock | None = None,
        answer_pings: bool = True,
    ) -> None:
        self._snapshot = snapshot or Snapshot(seq=0)
        self._clock: Clock = clock or SystemClock()
        self.answer_pings = answer_pings
        self.history: list[EventMessage] = []
        """Every published event, in seq order."""
        self.urls: list[str] = []
        """The URL of every connection attempt, in order."""
        self.headers: list[dict[str, str]] = []
        """The handshake headers of every connection attempt, in order."""
        self.received: list[ClientMessage] = []
        """Every message any client sent, in order."""
        self._open: list[_MockConnection] = []
        self._refuse = 0
        self._reject_auth = False
        self._changed = asyncio.Condition()

    @property
    def latest_seq(self) -> int:
        """The newest seq published, or the snapshot's seq."""
        return self.history[-1].seq if self.history else self._snapshot.seq

    @property
    def open_connections(self) -> int:
        """How many connections are open now."""
        return sum(1 for c in self._open if not c.closed)

    async def connect(self, url: str, headers: Mapping[str, str]) -> Connection:
        """Open an in-memory connection, unless told to refuse it.

        Raises:
            ConnectError: :meth:`refuse_next` asked for it.
            AuthError: :meth:`reject_auth` asked for it.
        """
        self.urls.append(url)
        self.headers.append(dict(headers))
        await self._notify()
        if self._reject_auth:
            raise AuthError("the mock hub refused the token (401)")
        if self._refuse > 0:
            self._refuse -= 1
            raise ConnectError("the mock hub refused the connection")
        conn = _MockConnection(self)
        self._open = [c for c in self._open if not c.closed] + [conn]
        since = parse_qs(urlsplit(url).query).get("since")
        conn.deliver(encode(Hello(seq=self.latest_seq, server="nephos/mock")))
        self._start(conn, int(since[0]) if since else None)
        return conn

    def _start(self, conn: _MockConnection, since: int | None, *, resync: bool = False) -> None:
        if since is None or since > self.latest_seq:
            conn.deliver(encode(replace(self._snapshot, resync=resync)))
            since = self._snapshot.seq
        for event in self.history:
            if event.seq > since:
                conn.deliver(encode(event))

    def _on_client_message(self, conn: _MockConnection, message: ClientMessage) -> None:
        self.received.append(message)
        if isinstance(message, Ping) and self.answer_pings:
            conn.deliver(encode(Pong(t=message.t)))
        elif isinstance(message, Resync):
            self._start(conn, None, resync=True)
        elif isinstance(message, Subscribe) and message.since is not None:
            self._start(conn, message.since)
        elif isinstance(message, Ack):
            self._acknowledge(conn, message.alert_id)
        asyncio.get_running_loop().create_task(self._notify())

    def _acknowledge(self, conn: _MockConnection, alert_id: str) -> None:
        """Do what the hub does: publish the acknowledged alert, or answer with an error."""
        alert = self._find_alert(alert_id)
        if alert is None:
            missing = f"no alert with id {alert_id}"
            conn.deliver(encode(ErrorMessage(code="not_found", message=missing, ref=alert_id)))
        elif alert.get("state") == AlertState.RESOLVED.value:
            resolved = f"alert {alert_id} is already resolved"
            conn.deliver(encode(ErrorMessage(code="resolved", message=resolved, ref=alert_id)))
        elif alert.get("state") == AlertState.FIRING.value:
            now = self._clock.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
            acked = dict(alert, state=AlertState.ACKNOWLEDGED.value, acknowledged_at=now)
            acked.update(updated_at=now, version=int(alert.get("version", 0)) + 1)
            self.publish(EventKind.ALERT, acked)

    def _find_alert(self, alert_id: str) -> dict[str, Any] | None:
        for event in reversed(self.history):
            if event.kind is EventKind.ALERT and event.data.get("id") == alert_id:
                return dict(event.data)
        for alert in self._snapshot.alerts:
            if alert.id == alert_id:
                return to_dict(alert)
        return None

    # ---- scripting

    def set_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the state that new connections receive; history up to its seq is dropped."""
        self._snapshot = snapshot
        self.history = [e for e in self.history if e.seq > snapshot.seq]

    def publish(
        self, kind: EventKind, data: Mapping[str, Any], *, ts: datetime | None = None
    ) -> EventMessage:
        """Append an event with the next seq and send it to every open connection."""
        event = EventMessage(
            seq=self.latest_seq + 1, kind=kind, ts=ts or self._clock.now(), data=dict(data)
        )
        self.history.append(event)
        self.send(event)
        return event

    def send(self, message: ServerMessage) -> None:
        """Send any server message to every open connection (not recorded in the history)."""
        self.send_raw(encode(message))

    def send_raw(self, text: str) -> None:
        """Send a raw text frame, even a malformed one, to every open connection."""
        for conn in self._open:
            conn.deliver(text)

    def disconnect(self, *, code: int = 1006, reason: str = "") -> None:
        """Drop every open connection as if the hub went away."""
        for conn in self._open:
            conn.deliver(_Close(code, reason))
        self._open = []

    def refuse_next(self, count: int = 1) -> None:
        """Fail the next ``count`` connection attempts with ConnectError."""
        self._refuse = count

    def reject_auth(self, reject: bool = True) -> None:
        """Answer every connection attempt with AuthError (a 401) while ``reject`` holds."""
        self._reject_auth = reject

    async def wait_for_attempts(self, count: int) -> None:
        """Wait until ``count`` connection attempts have been made in total."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.urls) >= count)

    async def wait_for_received(self, count: int) -> None:
        """Wait until clients have sent ``count`` messages in total."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
