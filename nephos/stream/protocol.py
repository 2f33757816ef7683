"""The live stream's wire messages: frozen dataclasses, parsed and serialised at the boundary.

Every frame is one JSON object in a WebSocket text frame with a ``type`` and, from the server,
``"v": 1``. :func:`parse_server_message` and :func:`parse_client_message` turn text into these
values and raise :class:`ProtocolError` for anything malformed; :func:`encode` turns a value
back into text. docs/protocol.md is the reference and a test keeps it in step with this module.
Transports, the hub and the client live in their own modules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeAlias

from nephos.errors import StreamError
from nephos.model import (
    Alert,
    CheckResult,
    Event,
    EventKind,
    Instance,
    MetricPoint,
    from_dict,
    parse_time,
    to_dict,
)

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "ClientMessage",
    "ErrorMessage",
    "EventMessage",
    "Hello",
    "Lag",
    "Ping",
    "Pong",
    "ProtocolError",
    "Resync",
    "ServerMessage",
    "Snapshot",
    "Subscribe",
    "encode",
    "event_frame",
    "event_frames",
    "kinds_of",
    "parse_client_message",
    "parse_server_message",
]

PROTOCOL_VERSION = 1
"""The value of ``v`` this module writes and accepts."""


class ProtocolError(StreamError):
    """A frame is not valid JSON, not an object, or does not match the message schema."""


# --------------------------------------------------------------------------- server -> client


@dataclass(frozen=True, slots=True)
class Hello:
    """The first frame on every connection: the newest committed seq and the server's name."""

    seq: int
    server: str
    type: ClassVar[str] = "hello"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The current state, drawn at once by a new screen.

    It reflects at least every event up to ``seq`` (events after ``seq`` may already show in
    it; applying them again is harmless because every record is keyed). ``resync`` is true
    when it replaces the state of a client that lagged or asked for a resync.
    """

    seq: int
    ts: datetime | None = None
    results: tuple[CheckResult, ...] = ()
    instances: tuple[Instance, ...] = ()
    alerts: tuple[Alert, ...] = ()
    resync: bool = False
    type: ClassVar[str] = "snapshot"


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One change-feed event; ``data`` is the changed record as the store wrote it."""

    seq: int
    kind: EventKind
    ts: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    type: ClassVar[str] = "event"

    @classmethod
    def from_event(cls, event: Event) -> EventMessage:
        """The frame for a store event."""
        return cls(seq=event.seq, kind=event.kind, ts=event.ts, data=event.data)

    def to_event(self) -> Event:
        """The store event this frame carries."""
        return Event(seq=self.seq, kind=self.kind, ts=self.ts, data=self.data)

    def record(self) -> CheckResult | Alert | Instance | MetricPoint:
        """``data`` parsed into the domain value its ``kind`` names.

        Raises:
            ProtocolError: ``data`` lacks a field that the value requires.
        """
        cls = _RECORD_TYPES[self.kind]
        try:
            return from_dict(cls, self.data)
        except (TypeError, ValueError, KeyError) as exc:
            raise ProtocolError(f"event {self.seq}: {self.kind} data is malformed: {exc}") from exc


_RECORD_TYPES: dict[EventKind, type[CheckResult | Alert | Instance | MetricPoint]] = {
    EventKind.CHECK: CheckResult,
    EventKind.ALERT: Alert,
    EventKind.INSTANCE: Instance,
    EventKind.METRIC: MetricPoint,
}


@dataclass(frozen=True, slots=True)
class Pong:
    """The answer to a :class:`Ping`, echoing its ``t``."""

    t: float
    type: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class Lag:
    """The client fell behind: ``dropped`` events were not sent, a resync snapshot follows.

    ``count`` is how often this connection has lagged; at ``limit`` the hub closes it (1013).
    ``seq`` is the last seq that was delivered before the drop.
    """

    seq: int
    dropped: int
    count: int
    limit: int
    type: ClassVar[str] = "lag"


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """A request of this client failed; ``ref`` names what it was about (an alert id)."""

    code: str
    message: str
    ref: str | None = None
    type: ClassVar[str] = "error"


# --------------------------------------------------------------------------- client -> server


@dataclass(frozen=True, slots=True)
class Ping:
    """A round-trip probe; ``t`` is the client's clock in milliseconds."""

    t: float
    type: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Change what this connection receives; empty filters mean everything.

    With ``since`` the hub replays every event after it, then continues live; without it the
    hub sends a fresh snapshot for the new filters.
    """

    since: int | None = None
    kinds: tuple[EventKind, ...] = ()
    providers: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    type: ClassVar[str] = "subscribe"


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledge a firing alert through the hub."""

    alert_id: str
    type: ClassVar[str] = "ack"


@dataclass(frozen=True, slots=True)
class Resync:
    """Ask for a fresh snapshot."""

    type: ClassVar[str] = "resync"


ServerMessage: TypeAlias = Hello | Snapshot | EventMessage | Pong | Lag | ErrorMessage
ClientMessage: TypeAlias = Ping | Subscribe | Ack | Resync
_Message: TypeAlias = ServerMessage | ClientMessage

# --------------------------------------------------------------------------- encoding


# One encoder, built once: json.dumps() with any option builds a new encoder on every call.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(message: _Message) -> str:
    """The JSON text frame for ``message``, with ``"v": 1`` and its ``type``."""
    return _dumps(_as_frame(message))


def _as_frame(message: _Message) -> dict[str, Any]:
    frame: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": message.type}
    if isinstance(message, Snapshot):
        frame.update(
            seq=message.seq,
            ts=_time(message.ts),
            results=[to_dict(r) for r in message.results],
            instances=[to_dict(i) for i in message.instances],
            alerts=[to_dict(a) for a in message.alerts],
            resync=message.resync,
        )
    elif isinstance(message, EventMessage):
        frame.update(
            seq=message.seq, kind=message.kind.value, ts=_time(message.ts), data=message.data
        )
    elif isinstance(message, Subscribe):
        if message.since is not None:
            frame["since"] = message.since
        frame.update(
            kinds=[k.value for k in message.kinds],
            providers=list(message.providers),
            targets=list(message.targets),
        )
    elif not isinstance(message, Resync):
        frame.update(to_dict(message))
    return frame


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- parsing


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one frame that a hub sent.

    Raises:
        ProtocolError: the frame is malformed, of another version, or not a server message.
    """
    frame = _load(text)
    parser = _SERVER_PARSERS.get(frame["type"])
    if parser is None:
        raise ProtocolError(f"unknown server message type {frame['type']!r}")
    return parser(frame)


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one frame that a client sent; ``v`` may be left out by clients.

    Raises:
        ProtocolError: the frame is malformed, of another version, or not a client message.
    """
    frame = _load(text)
    parser = _CLIENT_PARSERS.get(frame["type"])
    if parser is None:
        raise ProtocolError(f"unknown client message type {frame['type']!r}")
    return parser(frame)


def _load(text: str | bytes) -> dict[str, Any]:
    try:
        frame = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from exc
    if not isinstance(frame, dict):
        raise ProtocolError("frame is not a JSON object")
    version = frame.get("v", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise ProtocolError(f"unsupported protocol version {version!r} (this is v1)")
    if not isinstance(frame.get("type"), str):
        raise ProtocolError("frame has no string 'type'")
    return frame


def _int(frame: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    value = frame.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"{frame['type']}: {key!r} must be a non-negative integer")
    return value


def _number(frame: Mapping[str, Any], key: str) -> float:
    value = frame.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ProtocolError(f"{frame['type']}: {key!r} must be a number")
    return float(value)


def _str(frame: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    value = frame.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"{frame['type']}: {key!r} must be a string")
    return value


def _strings(frame: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = frame.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(f"{frame['type']}: {key!r} must be a list of strings")
    return tuple(value)


def _kind(frame: Mapping[str, Any], value: Any) -> EventKind:
    try:
        return EventKind(value)
    except ValueError as exc:
        raise ProtocolError(f"{frame['type']}: unknown event kind {value!r}") from exc


def _timestamp(frame: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    text = _str(frame, key, optional=optional)
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ProtocolError(f"{frame['type']}: {key!r} is not an RFC 3339 time") from exc


def _records(frame: Mapping[str, Any], key: str, cls: type[Any]) -> tuple[Any, ...]:
    value = frame.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ProtocolError(f"{frame['type']}: {key!r} must be a list of objects")
    try:
        return tuple(from_dict(cls, v) for v in value)
    except (TypeError, ValueError, KeyError) as exc:
        raise ProtocolError(f"{frame['type']}: {key!r} holds a malformed record: {exc}") from exc


def _parse_snapshot(frame: Mapping[str, Any]) -> Snapshot:
    resync = frame.get("resync", False)
    if not isinstance(resync, bool):
        raise ProtocolError("snapshot: 'resync' must be a boolean")
    return Snapshot(
        seq=_int(frame, "seq"),
        ts=_timestamp(frame, "ts", optional=True),
        results=_records(frame, "results", CheckResult),
        instances=_records(frame, "instances", Instance),
        alerts=_records(frame, "alerts", Alert),
        resync=resync,
    )


def _parse_event(frame: Mapping[str, Any]) -> EventMessage:
    data = frame.get("data", {})
    if not isinstance(data, dict):
        raise ProtocolError("event: 'data' must be an object")
    return EventMessage(
        seq=_int(frame, "seq"),
        kind=_kind(frame, frame.get("kind")),
        ts=_timestamp(frame, "ts"),
        data=data,
    )


def _parse_subscribe(frame: Mapping[str, Any]) -> Subscribe:
    return Subscribe(
        since=_int(frame, "since", optional=True),
        kinds=tuple(_kind(frame, k) for k in _strings(frame, "kinds")),
        providers=_strings(frame, "providers"),
        targets=_strings(frame, "targets"),
    )


_SERVER_PARSERS: dict[str, Callable[[Mapping[str, Any]], ServerMessage]] = {
    "hello": lambda f: Hello(seq=_int(f, "seq"), server=_str(f, "server")),
    "snapshot": _parse_snapshot,
    "event": _parse_event,
    "pong": lambda f: Pong(t=_number(f, "t")),
    "lag": lambda f: Lag(
        seq=_int(f, "seq"),
        dropped=_int(f, "dropped"),
        count=_int(f, "count"),
        limit=_int(f, "limit"),
    ),
    "error": lambda f: ErrorMessage(
        code=_str(f, "code"), message=_str(f, "message"), ref=_str(f, "ref", optional=True)
    ),
}

_CLIENT_PARSERS: dict[str, Callable[[Mapping[str, Any]], ClientMessage]] = {
    "ping": lambda f: Ping(t=_number(f, "t")),
    "subscribe": _parse_subscribe,
    "ack": lambda f: Ack(alert_id=_str(f, "alert_id")),
    "resync": lambda f: Resync(),
}


def event_frame(event: Event) -> str:
    """The text frame of a store event; the hub encodes each event once for every client.

    The same text as ``encode(EventMessage.from_event(event))``, without the message object:
    the feed frames every committed event, tens of thousands a second under ingest.
    """
    return event_frames([event])[0]


def event_frames(events: Sequence[Event]) -> list[str]:
    """:func:`event_frame` of each event; events of one commit share their time, which is
    formatted once."""
    stamps: dict[datetime, str | None] = {}
    out = []
    for event in events:
        ts = event.ts
        text = stamps[ts] if ts in stamps else stamps.setdefault(ts, _time(ts))
        frame = {
            "v": PROTOCOL_VERSION,
            "type": "event",
            "seq": event.seq,
            "kind": event.kind.value,
            "ts": text,
            "data": event.data,
        }
        out.append(_dumps(frame))
    return out


def kinds_of(values: Sequence[str]) -> tuple[EventKind, ...]:
    """Event kinds named by ``values``.

    Raises:
        ProtocolError: a value is not an event kind.
    """
    return tuple(_kind({"type": "subscribe"}, v) for v in values)
