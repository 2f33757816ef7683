"""Typed Textual messages that the stream worker posts to the app, and their making.

The worker is the boundary: it turns each :data:`~nephos.stream.client.StreamMessage` into
one of these, parsing event data into domain values with ``from_dict`` once, so that the app
and its widgets never see raw dicts or the socket.
"""

from __future__ import annotations

from datetime import datetime

from textual.message import Message
from textual.notifications import SeverityLevel

from nephos.model import Alert, CheckResult, Instance, MetricPoint
from nephos.stream.client import ConnectionState, StateChange, StreamMessage
from nephos.stream.protocol import ErrorMessage, EventMessage, Lag, ProtocolError, Snapshot

__all__ = [
    "ConnectionChanged",
    "HubNotice",
    "RecordReceived",
    "SnapshotReceived",
    "to_app_message",
]


class ConnectionChanged(Message):
    """The stream's connection state moved."""

    def __init__(self, state: ConnectionState) -> None:
        super().__init__()
        self.state = state
        """The new connection state."""


class SnapshotReceived(Message):
    """A snapshot replaces everything the app knows."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot
        """The parsed snapshot."""


class RecordReceived(Message):
    """One event's record, parsed."""

    def __init__(
        self, record: CheckResult | Alert | Instance | MetricPoint, seq: int, ts: datetime
    ) -> None:
        super().__init__()
        self.record = record
        """The domain value the event carries."""
        self.seq = seq
        """The event's seq."""
        self.ts = ts
        """When the store committed the event."""


class HubNotice(Message):
    """Something the operator should read once: an error from the hub, a lag, a bad frame."""

    def __init__(self, text: str, *, severity: SeverityLevel = "warning") -> None:
        super().__init__()
        self.text = text
        """The notice, plain text (it may quote the hub)."""
        self.severity = severity
        """``information``, ``warning`` or ``error``."""


def to_app_message(message: StreamMessage) -> Message | None:
    """The app message for one stream message; None for those the app has no use for."""
    if isinstance(message, StateChange):
        return ConnectionChanged(message.state)
    if isinstance(message, Snapshot):
        return SnapshotReceived(message)
    if isinstance(message, EventMessage):
        try:
            return RecordReceived(message.record(), message.seq, message.ts)
        except ProtocolError as exc:
            return HubNotice(f"skipped a malformed event: {exc}")
    if isinstance(message, Lag):
        return HubNotice(f"the UI fell behind; {message.dropped} events skipped, resynchronising")
    if isinstance(message, ErrorMessage):
        ref = f" ({message.ref})" if message.ref else ""
        return HubNotice(f"hub: {message.message}{ref}", severity="error")
    return None  # a hello: the client has acted on it already
