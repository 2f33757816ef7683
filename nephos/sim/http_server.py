"""A scriptable loopback HTTP(S) server on aiohttp, for probe tests and ``nephos demo``.

Routes are plain data (:class:`Respond`, :class:`Hang`, :class:`Stream`, :class:`Redirect`,
:class:`Echo`) or any aiohttp handler, and may be added or replaced while the server runs:
the demo turns a healthy route into a failing one by calling :meth:`HttpSim.add_route` again.
A delay may be a callable, read on every request, so that latency can drift over time.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import socket
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from nephos.clock import Clock, SystemClock

__all__ = [
    "Echo",
    "Handler",
    "Hang",
    "HttpSim",
    "Redirect",
    "Respond",
    "RouteSpec",
    "ServerTls",
    "Stream",
    "forward_proxy",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Delay = float | Callable[[], float]

_TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer with a fixed status, body and headers after ``delay`` seconds.

    ``json`` (when not None) replaces ``body`` with its JSON encoding.
    """

    status: int = 200
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    delay: Delay = 0.0


@dataclass(frozen=True, slots=True)
class Hang:
    """Accept the request and never answer (until the server stops)."""


@dataclass(frozen=True, slots=True)
class Stream:
    """Stream ``size`` bytes in ``chunk_size`` pieces without holding them in memory."""

    size: int
    chunk_size: int = 64 * 1024
    status: int = 200


@dataclass(frozen=True, slots=True)
class Redirect:
    """Redirect to ``location`` with ``status``."""

    location: str
    status: int = 302


@dataclass(frozen=True, slots=True)
class Echo:
    """Answer with the request as JSON: method, path, headers and body (as text)."""

    status: int = 200


RouteSpec = Respond | Hang | Stream | Redirect | Echo


@dataclass(frozen=True, slots=True)
class ServerTls:
    """Server TLS settings: the chain file (leaf then intermediates), its key, and optionally
    the CA that client certificates must chain to (mTLS) and the highest TLS version offered."""

    chain_file: pathlib.Path | str
    key_file: pathlib.Path | str
    client_ca_file: pathlib.Path | str | None = None
    max_version: str | None = None  # "1.2" or "1.3"

    def context(self) -> ssl.SSLContext:
        """The server SSLContext for these settings.

        Raises:
            OSError: a file cannot be read.
            ssl.SSLError: a file is not a usable certificate or key.
        """
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.chain_file), str(self.key_file))
        if self.client_ca_file is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(str(self.client_ca_file))
        if self.max_version is not None:
            ctx.maximum_version = _TLS_VERSIONS[self.max_version]
        return ctx


def forward_proxy(via: str = "1.1 nephos-sim") -> Handler:
    """A plain-HTTP forward proxy, for ``HttpSim(fallback=forward_proxy())``.

    It forwards absolute-form requests (``GET http://host/path``) and marks answers with a
    ``Via`` header, so that a test can tell a proxied response from a direct one.
    """
    import aiohttp

    hop_by_hop = {"host", "proxy-connection", "proxy-authorization", "connection"}

    async def handler(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop_by_hop}
        body = await request.read()
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, request.url, headers=headers, data=body, allow_redirects=False
            ) as upstream,
        ):
            payload = await upstream.read()
            answer = {k: v for k, v in upstream.headers.items() if k.lower() in ("content-type",)}
            answer["Via"] = via
            return web.Response(status=upstream.status, body=payload, headers=answer)

    return handler


class HttpSim:
    """A loopback HTTP server whose routes are scripted and may change at run time.

    Use as ``async with HttpSim() as sim:`` or call :meth:`start` and :meth:`stop`.
    ``hits`` counts requests per path, for tests that need to know a request arrived.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ServerTls | None = None,
        clock: Clock | None = None,
        fallback: Handler | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._tls = tls
        self._clock: Clock = clock or SystemClock()
        self._fallback = fallback
        self._routes: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._port: int | None = None
        self.hits: Counter[str] = Counter()

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The port actually bound.

        Raises:
            RuntimeError: the server has not been started.
        """
        if self._port is None:
            raise RuntimeError("HttpSim is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (or https when TLS is on)."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.base_url + path

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            OSError: the address cannot be bound or a TLS file cannot be read.
        """
        ssl_context = self._tls.context() if self._tls else None
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # A short shutdown timeout: hanging routes are released by ``_stopping`` anyway.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        # Bind the socket ourselves: it is the public way to learn the ephemeral port.
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        site = web.SockSite(runner, sock, ssl_context=ssl_context)
        await site.start()
        self._runner = runner
        self._port = int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Release hanging requests and shut the server down."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HttpSim:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ routes

    def add_route(self, path: str, route: RouteSpec | Handler) -> None:
        """Serve ``path`` (exact match, any method) with a spec or an aiohttp handler.

        Replaces any earlier route for ``path``; works while the server runs.
        """
        self._routes[path] = route if callable(route) else self._handler_for(route)

    def remove_route(self, path: str) -> None:
        """Stop serving ``path`` (it then answers 404, or goes to the fallback)."""
        self._routes.pop(path, None)

    def add_redirect_chain(self, prefix: str, hops: int, final: str) -> str:
        """Add redirects ``prefix/0 -> prefix/1 -> ... -> final``; return the first path."""
        for hop in range(hops):
            nxt = f"{prefix}/{hop + 1}" if hop + 1 < hops else final
            self.add_route(f"{prefix}/{hop}", Redirect(nxt))
        return f"{prefix}/0" if hops else final

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        handler = self._routes.get(request.path, self._fallback)
        if handler is None:
            return web.Response(status=404, text="no such route")
        return await handler(request)

    def _handler_for(self, spec: RouteSpec) -> Handler:
        if isinstance(spec, Respond):
            return self._respond(spec)
        if isinstance(spec, Hang):
            return self._hang
        if isinstance(spec, Stream):
            return self._stream(spec)
        if isinstance(spec, Redirect):
            return self._redirect(spec)
        return self._echo(spec)

    def _respond(self, spec: Respond) -> Handler:
        if spec.json is not None:
            body = json.dumps(spec.json).encode()
            content_type = "application/json"
        else:
            body = spec.body.encode() if isinstance(spec.body, str) else spec.body
            content_type = "text/plain"

        async def handler(request: web.Request) -> web.StreamResponse:
            delay = spec.delay() if callable(spec.delay) else spec.delay
            if delay > 0:
                await self._clock.sleep(delay)
            headers = {"Content-Type": content_type, **spec.headers}
            return web.Response(status=spec.status, body=body, headers=headers)

        return handler

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        await self._stopping.wait()
        return web.Response(status=503, text="server stopping")

    def _stream(self, spec: Stream) -> Handler:
        chunk = b"x" * spec.chunk_size

        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(status=spec.status)
            response.content_length = spec.size
            response.content_type = "application/octet-stream"
            await response.prepare(request)
            sent = 0
            try:
                while sent < spec.size and not self._stopping.is_set():
                    piece = chunk[: min(spec.chunk_size, spec.size - sent)]
                    await response.write(piece)
                    sent += len(piece)
                await response.write_eof()
            except (ConnectionError, RuntimeError):
                pass  # the client stopped reading and hung up, which is the point of the test
            return response

        return handler

    @staticmethod
    def _redirect(spec: Redirect) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=spec.status, headers={"Location": spec.location})

        return handler

    @staticmethod
    def _echo(spec: Echo) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            payload = {
                "method": request.method,
                "path": request.path,
                "headers": dict(request.headers),
                "body": body.decode("utf-8", "replace"),
            }
            return web.json_response(payload, status=spec.status)

        return handler
