"""The TLS probe: a handshake on host:port that reports the certificate chain as data.

Leaf validity, the earliest expiry in the presented chain, subject, issuer, SANs, hostname
match, chain validity (with OpenSSL's reason when invalid), TLS version and cipher are each
their own ``TlsInfo`` field. A failed validation is data, not an error: the handshake is made
without verification and the presented chain is verified afterwards, against the system store
or ``tls.ca_file``. pyOpenSSL is blocking, so each check runs in a worker thread with socket
timeouts that end it by the target's deadline. :func:`certificate_info` and
:func:`hostname_matches` are shared with the HTTP probe.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

from cryptography import x509
from OpenSSL import SSL, crypto

from nephos.model import CheckKind, Target, TlsInfo
from nephos.probes.base import Observation, Probe

__all__ = ["TlsProbe", "certificate_info", "hostname_matches", "split_host_port"]

_PROTOCOLS = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}


def split_host_port(address: str, default_port: int) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or a bare host as ``(host, port)``.

    Raises:
        ValueError: the port is not a number.
    """
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if address.count(":") == 1:
        host, _, port = address.partition(":")
        return host, int(port)
    return address, default_port


def _san_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns_names = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return dns_names, ips


def hostname_matches(hostname: str, cert: x509.Certificate) -> bool:
    """Whether ``cert``'s SANs cover ``hostname`` (RFC 6125: one leftmost wildcard label;
    no fallback to the common name, as browsers and Go do)."""
    dns_names, ips = _san_names(cert)
    try:
        wanted_ip = ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        pass
    else:
        return any(ipaddress.ip_address(ip) == wanted_ip for ip in ips)
    labels = hostname.lower().rstrip(".").split(".")
    for pattern in dns_names:
        plabels = pattern.lower().rstrip(".").split(".")
        if len(plabels) != len(labels):
            continue
        if plabels[0] == "*" and len(plabels) > 2 and plabels[1:] == labels[1:]:
            return True
        if plabels == labels:
            return True
    return False


def certificate_info(chain: Sequence[x509.Certificate], hostname: str | None) -> TlsInfo:
    """The certificate fields of a presented chain (leaf first), without session details.

    ``chain_earliest_not_after`` is the earliest expiry of any certificate presented.
    """
    if not chain:
        return TlsInfo()
    leaf = chain[0]
    dns_names, ips = _san_names(leaf)
    return TlsInfo(
        leaf_not_after=leaf.not_valid_after_utc,
        leaf_not_before=leaf.not_valid_before_utc,
        chain_earliest_not_after=min(c.not_valid_after_utc for c in chain),
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        sans=tuple(dns_names + ips),
        hostname_match=hostname_matches(hostname, leaf) if hostname else None,
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _Attempt:
    """One check in the worker thread: its deadline, its phase timings and its result."""

    def __init__(self, seconds: float) -> None:
        self.started = time.perf_counter()
        self._end = time.monotonic() + seconds
        self.timings: dict[str, float] = {}

    def left(self) -> float:
        """Seconds left for socket operations.

        Raises:
            TimeoutError: the deadline has passed.
        """
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    def phase(self, name: str, since: float) -> float:
        """Record phase ``name`` as lasting from ``since`` until now; return now."""
        now = time.perf_counter()
        self.timings[name] = round((now - since) * 1000, 3)
        return now

    def finish(
        self,
        error: str | None = None,
        *,
        connected: bool = False,
        ip: str | None = None,
        tls: TlsInfo | None = None,
    ) -> Observation:
        total = self.phase("total", self.started) - self.started
        return Observation(
            timedelta(seconds=total),
            connected=connected,
            ip=ip,
            error=error,
            timings=dict(self.timings),
            tls=tls,
        )


class TlsProbe(Probe):
    """Handshakes with ``host:port`` (default 443) and reports the chain it was shown.

    ``tls.verify`` does not change what is reported: chain validity is always measured and
    reported as ``chain_valid``. ``tls.cert_file``/``key_file`` present a client certificate,
    ``tls.server_name`` sets SNI and the name matched, ``tls.min_version`` bounds the protocol.
    """

    kind = CheckKind.TLS

    def __init__(self, *, max_threads: int = 64) -> None:
        self._max_threads = max_threads
        self._executor: ThreadPoolExecutor | None = None
        self._contexts: dict[tuple[str | None, str | None, str | None], SSL.Context] = {}
        self._stores: dict[str | None, crypto.X509Store] = {}
        # Worker threads build the caches concurrently; building twice would be harmless but
        # wasteful for the system store, which holds a few hundred certificates.
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Create the worker threads' pool.

        Its own pool rather than the loop's default one, which is sized for CPU work (a
        handful of threads) and would queue slow handshakes behind each other.
        """
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_threads, thread_name_prefix="tls-probe")

    async def close(self) -> None:
        """Stop the pool; handshakes in flight end by their own deadlines."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def run(self, target: Target) -> Observation:
        """Check ``target`` once, within ``target.timeout``; never raises for target failures."""
        seconds = target.timeout.total_seconds()
        started = time.perf_counter()
        try:
            host, port = split_host_port(target.address, 443)
        except ValueError:
            return Observation(timedelta(0), error=f"bad address {target.address!r}")
        await self.start()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(seconds):
                return await loop.run_in_executor(
                    self._executor, self._check, target, host, port, seconds
                )
        except TimeoutError:
            elapsed = timedelta(seconds=time.perf_counter() - started)
            return Observation(elapsed, error=f"timed out after {seconds:g}s")

    # ------------------------------------------------------------------ worker thread

    def _context(self, target: Target) -> SSL.Context:
        opts = target.tls
        key = (opts.cert_file, opts.key_file, opts.min_version)
        with self._lock:
            ctx = self._contexts.get(key)
            if ctx is None:
                ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
                ctx.set_verify(SSL.VERIFY_NONE)  # verified afterwards, so failure is data
                if opts.min_version:
                    ctx.set_min_proto_version(_PROTOCOLS[opts.min_version])
                if opts.cert_file:
                    ctx.use_certificate_chain_file(opts.cert_file)
                    ctx.use_privatekey_file(opts.key_file or opts.cert_file)
                self._contexts[key] = ctx
            return ctx

    def _store(self, ca_file: str | None) -> crypto.X509Store:
        with self._lock:
            store = self._stores.get(ca_file)
            if store is None:
                store = crypto.X509Store()
                if ca_file:
                    store.load_locations(ca_file)
                else:
                    paths = ssl.get_default_verify_paths()
                    cafile = paths.cafile or paths.openssl_cafile
                    capath = paths.capath if paths.capath and os.path.isdir(paths.capath) else None
                    store.load_locations(cafile if os.path.exists(cafile) else None, capath)
                self._stores[ca_file] = store
            return store

    def _verify(self, chain: Sequence[x509.Certificate], ca_file: str | None) -> str | None:
        """OpenSSL's reason the chain does not verify, or None when it does."""
        store = self._store(ca_file)
        leaf = crypto.X509.from_cryptography(chain[0])
        rest = [crypto.X509.from_cryptography(c) for c in chain[1:]]
        try:
            crypto.X509StoreContext(store, leaf, rest).verify_certificate()
        except crypto.X509StoreContextError as exc:
            details = list(exc.errors)  # [openssl error code, chain depth, reason]
            if len(details) >= 3:
                return f"{details[2]} (at depth {details[1]})"
            return str(exc)
        return None

    def _check(self, target: Target, host: str, port: int, seconds: float) -> Observation:
        attempt = _Attempt(seconds)
        try:
            ctx = self._context(target)
        except (SSL.Error, OSError, KeyError) as exc:
            return attempt.finish(f"cannot use the client TLS settings: {exc}")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            return attempt.finish(f"cannot resolve {host}: {exc}")
        t_connect = attempt.phase("dns", attempt.started)
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            try:
                sock.settimeout(attempt.left())
                sock.connect(sockaddr)
            except OSError as exc:
                if isinstance(exc, TimeoutError):
                    raise
                return attempt.finish(f"cannot connect to {host}:{port}: {exc.strerror or exc}")
            peer_ip = str(sock.getpeername()[0])
            t_tls = attempt.phase("connect", t_connect)
            server_name = target.tls.server_name or host
            conn = SSL.Connection(ctx, sock)
            if not _is_ip(server_name):
                conn.set_tlsext_host_name(server_name.encode("idna"))
            conn.set_connect_state()
            try:
                _handshake(conn, sock, attempt)
            except SSL.Error as exc:
                reason = _ssl_reason(exc)
                return attempt.finish(f"TLS handshake failed: {reason}", connected=True, ip=peer_ip)
            attempt.phase("tls", t_tls)
            chain = conn.get_peer_cert_chain(as_cryptography=True) or []
            info = certificate_info(chain, server_name)
            if chain:
                error = self._verify(chain, target.tls.ca_file)
                info = replace(info, chain_valid=error is None, chain_error=error)
            info = replace(
                info, version=conn.get_protocol_version_name(), cipher=conn.get_cipher_name()
            )
            return attempt.finish(None, connected=True, ip=peer_ip, tls=info)
        except TimeoutError:
            return attempt.finish(f"timed out after {seconds:g}s")
        finally:
            sock.close()


def _handshake(conn: SSL.Connection, sock: socket.socket, attempt: _Attempt) -> None:
    """Drive the handshake on a socket with a timeout (which pyOpenSSL sees as non-blocking).

    Raises:
        SSL.Error: the handshake failed.
        TimeoutError: the deadline passed.
    """
    while True:
        try:
            conn.do_handshake()
            return
        except SSL.WantReadError:
            readable, _, _ = select.select([sock], [], [], attempt.left())
        except SSL.WantWriteError:
            _, readable, _ = select.select([], [sock], [], attempt.left())
        if not readable:
            raise TimeoutError


def _ssl_reason(exc: SSL.Error) -> str:
    """pyOpenSSL errors carry a list of (lib, func, reason) tuples; keep the reasons."""
    details = exc.args[0] if exc.args else None
    if isinstance(details, list):
        reasons = [str(item[-1]) for item in details if isinstance(item, tuple) and item]
        if reasons:
            return "; ".join(reasons)
    return str(exc) or type(exc).__name__
