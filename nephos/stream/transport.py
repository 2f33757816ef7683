"""The small transport interface under the stream client, and its WebSocket implementation.

A :class:`Transport` opens a :class:`Connection` that sends and receives text frames; the
client's policy (reconnect, backoff, resume, round trips) lives in ``client.py`` and never
sees the library underneath. ``websockets`` exceptions are mapped here to the errors below.
The in-memory and replay transports live in ``mock.py`` and ``replay.py``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping

from nephos.errors import StreamError

__all__ = [
    "AuthError",
    "ConnectError",
    "Connection",
    "StreamClosed",
    "StreamEnded",
    "Transport",
    "WebSocketTransport",
    "websockets_logger",
]


class _NoDebugLogger(logging.LoggerAdapter[logging.Logger]):
    """websockets logs every handshake header at DEBUG, ``Authorization`` included; this adapter
    never lets DEBUG through, so no token reaches a log."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


def websockets_logger(name: str) -> logging.LoggerAdapter[logging.Logger]:
    """A logger for the ``websockets`` library that never logs at DEBUG (tokens)."""
    return _NoDebugLogger(logging.getLogger(name), {})


class ConnectError(StreamError):
    """The hub could not be reached or refused the handshake; worth retrying."""


class AuthError(StreamError):
    """The hub refused the token (HTTP 401); retrying will not help."""


class StreamClosed(StreamError):
    """An open connection was closed; ``code`` and ``reason`` come from the close frame."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(message)


class StreamEnded(StreamClosed):
    """The stream has no more to give (a recording ended); the client stops, it does not retry."""


class Connection(abc.ABC):
    """One open stream: text frames in and out."""

    @abc.abstractmethod
    async def send(self, text: str) -> None:
        """Send one text frame.

        Raises:
            StreamClosed: the connection is closed.
        """

    @abc.abstractmethod
    async def recv(self) -> str:
        """The next text frame.

        Raises:
            StreamClosed: the connection was closed (StreamEnded when nothing more will come).
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection; idempotent, never raises."""


class Transport(abc.ABC):
    """Opens connections to a hub URL."""

    @abc.abstractmethod
    async def connect(self, url: str, headers: Mapping[str, str]) -> Connection:
        """Open a connection to ``url`` with extra handshake ``headers``.

        Raises:
            ConnectError: the hub could not be reached or refused the handshake.
            AuthError: the hub answered 401.
        """


class _WebSocketConnection(Connection):
    def __init__(self, ws: object) -> None:
        from websockets.asyncio.client import ClientConnection

        assert isinstance(ws, ClientConnection)
        self._ws = ws

    async def send(self, text: str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def recv(self) -> str:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = await self._ws.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        return frame if isinstance(frame, str) else frame.decode("utf-8", "replace")

    async def close(self) -> None:
        await self._ws.close()


def _closed(exc: Exception) -> StreamClosed:
    rcvd = getattr(exc, "rcvd", None)
    code = getattr(rcvd, "code", None)
    reason = getattr(rcvd, "reason", "") or ""
    text = (
        f"the hub closed the stream ({code or 'no close frame'}{': ' + reason if reason else ''})"
    )
    return StreamClosed(text, code=code, reason=reason)


class WebSocketTransport(Transport):
    """Connections over the ``websockets`` client.

    Args:
        max_frame_bytes: the largest frame accepted from the hub (a snapshot can be large).
        open_timeout: seconds allowed for the TCP and WebSocket handshakes.
        ping_interval: seconds between protocol-level keepalive pings (None: off).
    """

    def __init__(
        self,
        *,
        max_frame_bytes: int = 64 * 1024 * 1024,
        open_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
    ) -> None:
        self._max_frame_bytes = max_frame_bytes
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval

    async def connect(self, url: str, headers: Mapping[str, str]) -> Connection:
        """Open a WebSocket to ``url``.

        Raises:
            ConnectError: the hub could not be reached or the handshake failed.
            AuthError: the hub answered 401.
        """
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        try:
            ws = await connect(
                url,
                additional_headers=dict(headers),
                max_size=self._max_frame_bytes,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                compression=None,
                logger=websockets_logger("nephos.stream.websockets"),
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise AuthError(f"the hub at {_redact(url)} refused the token (401)") from exc
            raise ConnectError(f"the hub at {_redact(url)} answered HTTP {status}") from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ConnectError(f"cannot reach the hub at {_redact(url)}: {exc}") from exc
        except ValueError as exc:  # urllib's port check: "Port out of range 0-65535"
            raise ConnectError(f"{_redact(url)} is not a usable hub URL: {exc}") from exc
        return _WebSocketConnection(ws)


def _redact(url: str) -> str:
    """``url`` without its query, which may carry a token."""
    return url.split("?", 1)[0]
