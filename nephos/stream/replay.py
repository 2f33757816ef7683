"""ReplayTransport: plays back a recording made by ``nephos tail --json`` as if it were a hub.

A recording is JSON lines of server frames (snapshot, event, lag). Played back, a connection
starts with a hello, skips events at or before the client's ``since``, answers pings, and ends
with :class:`~nephos.stream.transport.StreamEnded` so that the client stops instead of retrying.
With ``speed`` the frames keep their recorded spacing (by their ``ts``), divided by ``speed``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import pathlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import IO
from urllib.parse import parse_qs, urlsplit

from nephos.clock import Clock, SystemClock
from nephos.model import parse_time
from nephos.stream.protocol import Hello, Ping, Pong, ProtocolError, encode, parse_client_message
from nephos.stream.transport import Connection, StreamClosed, StreamEnded, Transport

__all__ = ["ReplayTransport"]


class _ReplayConnection(Connection):
    def __init__(
        self, lines: Iterator[str], *, since: int | None, speed: float | None, clock: Clock
    ) -> None:
        self._lines = lines
        self._since = since
        self._speed = speed
        self._clock = clock
        self._pongs: collections.deque[str] = collections.deque()
        self._pong_ready = asyncio.Event()
        self._pending: str | None = None
        self._due = 0.0
        self._last_ts: datetime | None = None
        self._greeted = False
        self._closed = False

    async def send(self, text: str) -> None:
        if self._closed:
            raise StreamClosed("the recording is closed")
        try:
            message = parse_client_message(text)
        except ProtocolError:
            return
        if isinstance(message, Ping):
            self._pongs.append(encode(Pong(t=message.t)))
            self._pong_ready.set()

    async def recv(self) -> str:
        while True:
            if self._closed:
                raise StreamClosed("the recording is closed")
            if self._pongs:
                return self._pongs.popleft()
            if self._pending is None:
                self._pending = self._next_frame()
            remaining = self._due - self._clock.monotonic()
            if remaining <= 0:
                frame, self._pending = self._pending, None
                return frame
            # Wait out the recorded gap, but answer a ping at once so the round trip stays true.
            self._pong_ready.clear()
            sleeper = asyncio.ensure_future(self._clock.sleep(remaining))
            waker = asyncio.ensure_future(self._pong_ready.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    def _next_frame(self) -> str:
        try:
            return self._read_frame()
        except (OSError, UnicodeDecodeError) as exc:
            # Not a recording (binary, unreadable): retrying would read the same bytes.
            raise StreamEnded(f"the recording cannot be read: {exc}") from exc

    def _read_frame(self) -> str:
        for line in self._lines:
            line = line.strip()
            if not line:
                continue
            try:
                frame = json.loads(line)
            except ValueError:
                continue  # a torn last line of a recording that was cut off
            if not isinstance(frame, dict):
                continue
            if not self._greeted:
                self._greeted = True
                if frame.get("type") != "hello":
                    self._lines = _chain(line, self._lines)
                    return encode(Hello(seq=0, server="nephos/replay"))
            if self._already_seen(frame):
                continue
            self._schedule(frame.get("ts"))
            return line
        raise StreamEnded("end of recording")

    def _already_seen(self, frame: Mapping[str, object]) -> bool:
        seq = frame.get("seq")
        return (
            frame.get("type") == "event"
            and self._since is not None
            and isinstance(seq, int)
            and seq <= self._since
        )

    def _schedule(self, ts: object) -> None:
        if self._speed is None or not isinstance(ts, str):
            return
        try:
            when = parse_time(ts)
        except ValueError:
            return
        now = self._clock.monotonic()
        if self._last_ts is not None and when > self._last_ts:
            self._due = max(self._due, now) + (when - self._last_ts).total_seconds() / self._speed
        self._last_ts = when

    async def close(self) -> None:
        self._closed = True
        self._pong_ready.set()


def _is_file(path: str | pathlib.Path) -> bool:
    return pathlib.Path(path).is_file()


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


class ReplayTransport(Transport):
    """Connections that play back a recording.

    Args:
        source: a recording file, or an open text stream of one.
        speed: None plays as fast as the client reads; 1.0 keeps the recorded spacing, 2.0
            twice as fast.
        clock: time for the recorded spacing.
    """

    def __init__(
        self,
        source: str | pathlib.Path | IO[str],
        *,
        speed: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self._source = source
        self._speed = speed
        self._clock: Clock = clock or SystemClock()

    async def connect(self, url: str, headers: Mapping[str, str]) -> Connection:
        """Start playing the recording from the top, after the ``since`` in ``url``.

        Raises:
            StreamEnded: the recording file does not exist (retrying would not help).
        """
        if isinstance(self._source, (str, pathlib.Path)) and not _is_file(self._source):
            raise StreamEnded(f"no recording at {self._source}")
        since = parse_qs(urlsplit(url).query).get("since")
        return _ReplayConnection(
            self._lines(),
            since=int(since[0]) if since else None,
            speed=self._speed,
            clock=self._clock,
        )

    def _lines(self) -> Iterator[str]:
        if isinstance(self._source, (str, pathlib.Path)):
            with open(self._source, encoding="utf-8") as fh:
                yield from fh
        else:
            self._source.seek(0)
            yield from self._source
