"""Shared fixtures: a test PKI and real loopback servers (HTTP, HTTPS variants, DNS, TCP).

Certificates are minted once per session; servers are started per test on ephemeral ports
of 127.0.0.1 and stopped afterwards. Every HTTP server carries the same scripted routes
(``ROUTES``), so a test only picks the server whose TLS it needs.
"""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from nephos.sim.certs import CertFiles, CertificateAuthority, IssuedCert, self_signed
from nephos.sim.dns_server import DnsSim
from nephos.sim.http_server import Echo, Hang, HttpSim, Respond, ServerTls, Stream
from nephos.sim.tcp_server import TcpSim

HUGE_BODY_BYTES = 50 * 1024 * 1024
SLOW_DELAY_SECONDS = 0.2
REDIRECT_HOPS = 3
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Pki:
    """The test PKI: one root CA file and server/client certificates for every case."""

    now: datetime
    ca_file: pathlib.Path
    valid: CertFiles  # for localhost and 127.0.0.1, valid 90 days, issued by the root
    expiring: CertFiles  # expires in 3 days
    expired: CertFiles  # expired 2 days ago
    wrong_host: CertFiles  # for wrong.example only
    api_host: CertFiles  # for api.test only, to exercise server_name
    self_signed: CertFiles
    chained: CertFiles  # leaf valid 90 days under an intermediate that expires in 10 days
    client: CertFiles  # a client certificate issued by the root, for mTLS
    certs: dict[str, IssuedCert]
    intermediate_not_after: datetime


def _window(now: datetime, days: float, before: float = 1.0) -> dict[str, datetime]:
    return {
        "not_before": now - timedelta(days=before),
        "not_after": now + timedelta(days=days),
    }


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Mint the test PKI once per session."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC).replace(microsecond=0)
    root = CertificateAuthority("nephos test root", **_window(now, 3650))
    inter_window = _window(now, 10)
    intermediate = root.intermediate("nephos test intermediate", **inter_window)
    certs = {
        "valid": root.issue("localhost", sans=LOOPBACK_NAMES, **_window(now, 90)),
        "expiring": root.issue("localhost", sans=LOOPBACK_NAMES, **_window(now, 3)),
        "expired": root.issue("localhost", sans=LOOPBACK_NAMES, **_window(now, -2, before=30)),
        "wrong_host": root.issue("wrong.example", sans=("wrong.example",), **_window(now, 90)),
        "api_host": root.issue("api.test", sans=("api.test",), **_window(now, 90)),
        "self_signed": self_signed("localhost", sans=LOOPBACK_NAMES, **_window(now, 90)),
        "chained": intermediate.issue("localhost", sans=LOOPBACK_NAMES, **_window(now, 90)),
        "client": root.issue("nephos-client", client=True, **_window(now, 90)),
    }
    files = {name: cert.write(folder, name) for name, cert in certs.items()}
    return Pki(
        now=now,
        ca_file=root.write(folder),
        certs=certs,
        intermediate_not_after=inter_window["not_after"],
        **files,
    )


def install_routes(sim: HttpSim) -> None:
    """The scripted routes every test HTTP server serves."""
    sim.add_route("/ok", Respond(body="ok"))
    sim.add_route("/json", Respond(json={"status": "up", "version": 3}))
    sim.add_route("/status/503", Respond(status=503, body="down for maintenance"))
    sim.add_route("/slow", Respond(body="slow", delay=SLOW_DELAY_SECONDS))
    sim.add_route("/hang", Hang())
    sim.add_route("/huge", Stream(HUGE_BODY_BYTES))
    sim.add_route("/echo", Echo())
    sim.add_redirect_chain("/redirect", REDIRECT_HOPS, "/ok")


StartHttp = Callable[..., Awaitable[HttpSim]]


@pytest.fixture
async def start_http() -> AsyncIterator[StartHttp]:
    """A factory that starts an HttpSim with the standard routes and stops it after the test."""
    started: list[HttpSim] = []

    async def start(tls: ServerTls | None = None, **kwargs: object) -> HttpSim:
        sim = HttpSim(tls=tls, **kwargs)
        install_routes(sim)
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


def _server_tls(files: CertFiles, **kwargs: object) -> ServerTls:
    return ServerTls(files.chain, files.key, **kwargs)


@pytest.fixture
async def http_server(start_http: StartHttp) -> HttpSim:
    """Plain HTTP with the standard routes (including /slow, /hang and the 50 MiB /huge)."""
    return await start_http()


@pytest.fixture
async def https_server(start_http: StartHttp, pki: Pki) -> HttpSim:
    """HTTPS with a certificate for 127.0.0.1 from the test root (``pki.ca_file``)."""
    return await start_http(_server_tls(pki.valid))


@pytest.fixture
async def https_expired(start_http: StartHttp, pki: Pki) -> HttpSim:
    """HTTPS whose certificate expired two days ago."""
    return await start_http(_server_tls(pki.expired))


@pytest.fixture
async def https_wrong_host(start_http: StartHttp, pki: Pki) -> HttpSim:
    """HTTPS whose certificate names wrong.example only."""
    return await start_http(_server_tls(pki.wrong_host))


@pytest.fixture
async def https_self_signed(start_http: StartHttp, pki: Pki) -> HttpSim:
    """HTTPS with a self-signed certificate."""
    return await start_http(_server_tls(pki.self_signed))


@pytest.fixture
async def https_chained(start_http: StartHttp, pki: Pki) -> HttpSim:
    """HTTPS presenting leaf + intermediate, the intermediate expiring before the leaf."""
    return await start_http(_server_tls(pki.chained))


@pytest.fixture
async def https_mtls(start_http: StartHttp, pki: Pki) -> HttpSim:
    """HTTPS that requires a client certificate issued by the test root."""
    return await start_http(_server_tls(pki.valid, client_ca_file=pki.ca_file))


@pytest.fixture
async def dns_server() -> AsyncIterator[DnsSim]:
    """A DNS server for ``example.test`` names; ``broken.example.test`` answers SERVFAIL."""
    records = {
        ("www.example.test", "A"): ["192.0.2.10", "192.0.2.11", "192.0.2.12"],
        ("www.example.test", "AAAA"): ["2001:db8::10"],
        ("example.test", "MX"): ["10 mail.example.test.", "20 backup.example.test."],
        ("example.test", "TXT"): ['"v=spf1 -all"'],
        ("alias.example.test", "CNAME"): ["www.example.test."],
    }
    async with DnsSim(records, servfail=["broken.example.test"]) as sim:
        yield sim


@pytest.fixture
async def tcp_server() -> AsyncIterator[TcpSim]:
    """A TCP server greeting with an SMTP-like banner, answering PING, echoing other lines."""
    async with TcpSim(
        banner=b"220 sim.test ready\r\n", echo=True, replies={b"PING": b"PONG\n"}
    ) as sim:
        yield sim
