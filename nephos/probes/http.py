"""The HTTP(S) probe on aiohttp: one request, a capped body, phase timings and the peer cert.

Sessions (and their connectors and SSLContexts) are built once per distinct set of TLS and
address-family options and reused by every target that shares it; method, headers, body,
redirects, proxy and SNI are per request. By default each check opens a fresh connection so
that ``dns`` and ``connect`` are measured every time and one check never rides on another's
connection; ``keepalive=True`` trades that for throughput. ``connect`` includes the TLS
handshake, which aiohttp does not expose as its own phase.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import ssl
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
from cryptography import x509

from nephos import __version__
from nephos.model import CheckKind, Target, TlsInfo
from nephos.probes.base import Observation, Probe
from nephos.probes.tls import certificate_info

__all__ = ["HttpProbe"]

_CHUNK = 64 * 1024
_FAMILIES = {None: socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
_TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_USER_AGENT = f"nephos/{__version__}"


@dataclass(frozen=True, slots=True)
class _SessionKey:
    """The options that live on a connector rather than on a request."""

    verify: bool
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    min_version: str | None
    ip_family: str | None

    @staticmethod
    def of(target: Target) -> _SessionKey:
        tls = target.tls
        return _SessionKey(
            tls.verify,
            tls.ca_file,
            tls.cert_file,
            tls.key_file,
            tls.min_version,
            target.http.ip_family,
        )


@dataclass(slots=True)
class _Phases:
    """Phase marks of one check, filled by the trace callbacks (durations in seconds)."""

    dns: float = 0.0
    connect: float = 0.0  # connection creation minus the DNS inside it
    resolved: bool = False
    connecting: bool = False
    connected: bool = False
    marks: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class _Outcome:
    """What one check learnt so far; a timeout keeps whatever arrived before it."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_truncated: bool = False
    ip: str | None = None
    tls: TlsInfo | None = None
    error: str | None = None
    headers_at: float | None = None  # perf_counter when the response headers arrived
    ssl_object: ssl.SSLObject | None = None  # of the connection that carried the last request


# The check running in the current task; lets the request class find where to record the
# connection, which aiohttp releases (and forgets) as soon as a short body has arrived.
_CURRENT: contextvars.ContextVar[_Outcome | None] = contextvars.ContextVar(
    "nephos_http_outcome", default=None
)


class _PeerRecordingRequest(aiohttp.ClientRequest):
    """A ClientRequest that notes the peer address and TLS session of its connection."""

    async def send(self, conn: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        outcome = _CURRENT.get()
        transport = conn.transport
        if outcome is not None and transport is not None:
            peer = transport.get_extra_info("peername")
            outcome.ip = str(peer[0]) if peer else None
            ssl_object = transport.get_extra_info("ssl_object")
            outcome.ssl_object = ssl_object if isinstance(ssl_object, ssl.SSLObject) else None
        return await super().send(conn)


def _ssl_context(key: _SessionKey) -> ssl.SSLContext:
    """The client SSLContext for one option set.

    Raises:
        OSError: a CA, certificate or key file cannot be read.
        ssl.SSLError: a file is not a usable certificate or key.
    """
    ctx = ssl.create_default_context(cafile=key.ca_file)
    if not key.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if key.min_version:
        ctx.minimum_version = _TLS_VERSIONS[key.min_version]
    if key.cert_file:
        ctx.load_cert_chain(key.cert_file, key.key_file)
    return ctx


def _trace_config() -> aiohttp.TraceConfig:
    """Callbacks that time DNS and connection creation for the check in ``trace_request_ctx``."""
    trace = aiohttp.TraceConfig()

    def phases(ctx: SimpleNamespace) -> _Phases:
        value = ctx.trace_request_ctx
        assert isinstance(value, _Phases)
        return value

    async def dns_start(_s: object, ctx: SimpleNamespace, _p: object) -> None:
        phases(ctx).marks["dns"] = time.perf_counter()

    async def dns_end(_s: object, ctx: SimpleNamespace, _p: object) -> None:
        p = phases(ctx)
        p.dns += time.perf_counter() - p.marks.pop("dns", time.perf_counter())
        p.resolved = True

    async def conn_start(_s: object, ctx: SimpleNamespace, _p: object) -> None:
        p = phases(ctx)
        p.marks["connect"] = time.perf_counter()
        p.marks["dns_before"] = p.dns
        p.connecting = True

    async def conn_end(_s: object, ctx: SimpleNamespace, _p: object) -> None:
        p = phases(ctx)
        elapsed = time.perf_counter() - p.marks.pop("connect", time.perf_counter())
        p.connect += elapsed - (p.dns - p.marks.pop("dns_before", p.dns))
        p.connected = True

    trace.on_dns_resolvehost_start.append(dns_start)
    trace.on_dns_resolvehost_end.append(dns_end)
    trace.on_connection_create_start.append(conn_start)
    trace.on_connection_create_end.append(conn_end)
    trace.freeze()
    return trace


async def _read_capped(content: aiohttp.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Up to ``cap`` bytes of the body, and whether more was left unread."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = await content.read(min(_CHUNK, cap - size))
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    if content.at_eof():
        return b"".join(chunks), False
    # One more byte tells "exactly cap" from "more"; unread data is then dropped with the
    # connection, so a 50 MiB body costs only what was read.
    return b"".join(chunks), bool(await content.read(1))


def _peer_certificates(ssl_object: ssl.SSLObject) -> list[x509.Certificate]:
    """The chain the server presented, leaf first; only the leaf where Python cannot tell."""
    getter = getattr(ssl_object, "get_unverified_chain", None)  # public from Python 3.13
    if getter is None:
        # Python 3.10-3.12 have the same method on the private _SSLObject only.
        getter = getattr(getattr(ssl_object, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            chain = getter() or []
            return [_load(c) for c in chain]
        except (ValueError, ssl.SSLError, AttributeError, TypeError):
            pass  # fall back to the leaf below
    der = ssl_object.getpeercert(binary_form=True)
    return [x509.load_der_x509_certificate(der)] if der else []


def _load(cert: Any) -> x509.Certificate:
    """An ``_ssl.Certificate`` (whose ``public_bytes()`` gives PEM text) as a cryptography one."""
    pem = cert.public_bytes()
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


class HttpProbe(Probe):
    """Runs HTTP and HTTPS checks; one instance serves every target concurrently.

    ``http.ip_family`` is strict: ``ipv6`` never falls back to an IPv4 address.

    Args:
        keepalive: reuse connections between checks (faster; ``dns`` and ``connect`` then
            appear only on checks that opened a connection).
        dns_cache_ttl: seconds a resolved address is reused; ``dns`` appears only on checks
            that resolved.
    """

    kind = CheckKind.HTTP

    def __init__(self, *, keepalive: bool = False, dns_cache_ttl: int = 10) -> None:
        self._keepalive = keepalive
        self._dns_cache_ttl = dns_cache_ttl
        self._sessions: dict[_SessionKey, aiohttp.ClientSession] = {}
        self._trace: aiohttp.TraceConfig | None = None

    async def start(self) -> None:
        """Create the session for default options, which most targets share."""
        self._session(_SessionKey.of(Target("default", CheckKind.HTTP, "http://localhost/")))

    async def close(self) -> None:
        """Close every cached session and its connections."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    def _session(self, key: _SessionKey) -> aiohttp.ClientSession:
        """The session for ``key``, built on first use.

        Raises:
            OSError: a TLS file cannot be read.
            ssl.SSLError: a TLS file is unusable.
        """
        session = self._sessions.get(key)
        if session is None:
            if self._trace is None:
                self._trace = _trace_config()
            connector = aiohttp.TCPConnector(
                ssl=_ssl_context(key),
                family=_FAMILIES[key.ip_family],
                force_close=not self._keepalive,
                limit=0,  # the sentinel bounds concurrency; a second cap here would queue
                ttl_dns_cache=self._dns_cache_ttl,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=[self._trace],
                timeout=aiohttp.ClientTimeout(total=None),  # asyncio.timeout governs
                cookie_jar=aiohttp.DummyCookieJar(),  # checks never share cookies
                headers={"User-Agent": _USER_AGENT},
                request_class=_PeerRecordingRequest,
            )
            self._sessions[key] = session
        return session

    async def run(self, target: Target) -> Observation:
        """Check ``target`` once, within ``target.timeout``; never raises for target failures.

        With redirects followed, ``status``, ``ip``, ``tls`` and ``ttfb`` describe the final
        response, while ``dns`` and ``connect`` add up over every hop.
        """
        seconds = target.timeout.total_seconds()
        phases = _Phases()
        started = time.perf_counter()
        outcome = _Outcome()
        try:
            session = self._session(_SessionKey.of(target))
        except (OSError, ssl.SSLError, KeyError) as exc:
            return Observation(timedelta(0), error=f"cannot use the connection settings: {exc}")
        token = _CURRENT.set(outcome)
        try:
            async with asyncio.timeout(seconds):
                await self._request(session, target, phases, outcome)
        except TimeoutError:
            outcome.error = f"timed out after {seconds:g}s {_waiting_for(phases, outcome)}"
        except Exception as exc:  # aiohttp raises more than ClientError; all are target failures
            outcome.error, tls = _describe(exc, target)
            outcome.tls = tls or outcome.tls
        finally:
            _CURRENT.reset(token)
        return _observation(phases, outcome, started, time.perf_counter() - started)

    async def _request(
        self,
        session: aiohttp.ClientSession,
        target: Target,
        phases: _Phases,
        outcome: _Outcome,
    ) -> None:
        opts = target.http
        follow = opts.follow_redirects and opts.max_redirects > 0
        async with session.request(
            opts.method,
            target.address,
            headers=dict(opts.headers),
            data=opts.body.encode() if opts.body is not None else None,
            allow_redirects=follow,
            # aiohttp fails on reaching max_redirects; curl's meaning is "this many are fine".
            max_redirects=opts.max_redirects + 1,
            proxy=opts.proxy,
            server_hostname=target.tls.server_name,
            trace_request_ctx=phases,
        ) as response:
            outcome.headers_at = time.perf_counter()
            outcome.status = response.status
            outcome.headers = {k: v for k, v in response.headers.items()}
            self._tls_facts(target, response.url.host, outcome)
            outcome.body, outcome.body_truncated = await _read_capped(
                response.content, opts.max_body_bytes
            )

    @staticmethod
    def _tls_facts(target: Target, host: str | None, outcome: _Outcome) -> None:
        ssl_object = outcome.ssl_object
        if ssl_object is None:
            return
        info = certificate_info(_peer_certificates(ssl_object), target.tls.server_name or host)
        cipher = ssl_object.cipher()
        outcome.tls = replace(
            info,
            # Verified by the handshake when verify is on; unknown when it was off.
            chain_valid=True if target.tls.verify else None,
            version=ssl_object.version(),
            cipher=cipher[0] if cipher else None,
        )


def _waiting_for(phases: _Phases, outcome: _Outcome) -> str:
    if outcome.headers_at is not None:
        return "while reading the body"
    if phases.connected:
        return "waiting for the response"
    if phases.connecting and not phases.resolved and "dns" in phases.marks:
        return "resolving the host"
    return "connecting"


def _describe(exc: BaseException, target: Target) -> tuple[str, TlsInfo | None]:
    """One line for a client failure, and TLS facts when the failure was a certificate."""
    opts = target.http
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        reason = getattr(cert_error, "verify_message", None) or str(cert_error)
        return f"certificate verify failed: {reason}", TlsInfo(
            chain_valid=False, chain_error=reason
        )
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS handshake failed: {exc.os_error}", None
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return f"cannot connect to the proxy: {_os_reason(exc.os_error)}", None
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve {exc.host}: {exc.os_error}", None
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = _os_reason(exc.os_error)
        if isinstance(exc.os_error, ConnectionResetError) and target.address.startswith("https"):
            # Servers that reject a protocol version or a missing client certificate often
            # just hang up mid-handshake.
            reason = "the connection was reset during the TLS handshake"
        return f"cannot connect to {exc.host}:{exc.port}: {reason}", None
    if isinstance(exc, aiohttp.TooManyRedirects):
        return f"too many redirects (more than {opts.max_redirects})", None
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without a response", None
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL: {exc}", None
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP error {exc.status}: {exc.message}", None
    return f"{type(exc).__name__}: {exc}", None


def _os_reason(error: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('10.0.0.1', 80)``."""
    if error.errno:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__


def _observation(phases: _Phases, outcome: _Outcome, started: float, total: float) -> Observation:
    timings: dict[str, float] = {}
    if phases.resolved:
        timings["dns"] = round(phases.dns * 1000, 3)
    if phases.connected:
        timings["connect"] = round(phases.connect * 1000, 3)
    if outcome.headers_at is not None:
        timings["ttfb"] = round((outcome.headers_at - started) * 1000, 3)
    timings["total"] = round(total * 1000, 3)
    return Observation(
        timedelta(seconds=total),
        connected=phases.connected or outcome.status is not None,
        status=outcome.status,
        body=outcome.body,
        body_truncated=outcome.body_truncated,
        headers=outcome.headers,
        ip=outcome.ip,
        error=outcome.error,
        timings=timings,
        tls=outcome.tls,
    )
