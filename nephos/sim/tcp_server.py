"""A loopback TCP server with a scripted greeting and replies, for probe tests and the demo.

Behaviours combine: send a ``banner`` on connect, answer known lines from ``replies``
(``{b"PING": b"PONG\\n"}``), echo everything else when ``echo`` is on, or close at once
with ``close_after_banner``. Reads are bounded so that a chatty client cannot grow memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

__all__ = ["TcpSim"]

_READ_LIMIT = 64 * 1024


class TcpSim:
    """A TCP server on ``host`` (127.0.0.1) and an ephemeral port by default.

    Settings are plain attributes and may change while it runs. ``connections`` counts
    accepted connections.
    """

    def __init__(
        self,
        *,
        banner: bytes | None = None,
        echo: bool = False,
        replies: Mapping[bytes, bytes] | None = None,
        close_after_banner: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.banner = banner
        self.echo = echo
        self.replies: dict[bytes, bytes] = dict(replies or {})
        self.close_after_banner = close_after_banner
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.connections = 0

    @property
    def port(self) -> int:
        """The port actually bound.

        Raises:
            RuntimeError: the server has not been started.
        """
        if self._port is None:
            raise RuntimeError("TcpSim is not started")
        return self._port

    @property
    def address(self) -> str:
        """``"<host>:<port>"``, the address form of tcp targets."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and start accepting.

        Raises:
            OSError: the address cannot be bound.
        """
        self._server = await asyncio.start_server(
            self._serve, self.host, self._requested_port, limit=_READ_LIMIT
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting and drop open connections."""
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> TcpSim:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        try:
            if self.banner:
                writer.write(self.banner)
                await writer.drain()
            if self.close_after_banner:
                return
            while True:
                line = await reader.readline()
                if not line:
                    return
                reply = self.replies.get(line.strip())
                if reply is not None:
                    writer.write(reply)
                elif self.echo:
                    writer.write(line)
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            return  # the peer went away or sent an over-long line; nothing to report
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
