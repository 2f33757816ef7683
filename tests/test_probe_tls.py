"""The TLS probe against real loopback servers: chain facts, validity as data, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from cryptography import x509

from nephos.model import CheckKind, Target, TlsOptions
from nephos.probes.tls import TlsProbe, hostname_matches, split_host_port
from nephos.sim.certs import self_signed
from nephos.sim.http_server import HttpSim, ServerTls
from nephos.sim.tcp_server import TcpSim
from tests.conftest import Pki, StartHttp


def target(address: str, *, timeout: float = 5.0, **tls: object) -> Target:
    return Target(
        name="t",
        kind=CheckKind.TLS,
        address=address,
        timeout=timedelta(seconds=timeout),
        tls=TlsOptions(**tls),  # type: ignore[arg-type]
    )


def at(sim: HttpSim) -> str:
    return f"127.0.0.1:{sim.port}"


@pytest.fixture
async def probe() -> AsyncIterator[TlsProbe]:
    probe = TlsProbe()
    await probe.start()
    yield probe
    await probe.close()


async def test_valid_chain_reports_every_certificate_field(
    probe: TlsProbe, https_server: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(at(https_server), ca_file=str(pki.ca_file)))
    cert = pki.certs["valid"].certificate
    assert obs.error is None
    assert obs.connected
    assert obs.ip == "127.0.0.1"
    assert obs.tls is not None
    assert obs.tls.leaf_not_after == cert.not_valid_after_utc
    assert obs.tls.leaf_not_before == cert.not_valid_before_utc
    assert obs.tls.chain_earliest_not_after == cert.not_valid_after_utc
    assert obs.tls.subject == "CN=localhost"
    assert obs.tls.issuer == "CN=nephos test root"
    assert obs.tls.sans == ("localhost", "127.0.0.1")
    assert obs.tls.hostname_match is True
    assert obs.tls.chain_valid is True
    assert obs.tls.chain_error is None
    assert obs.tls.version == "TLSv1.3"
    assert obs.tls.cipher
    assert {"dns", "connect", "tls", "total"} <= set(obs.timings)


async def test_chain_not_trusted_by_the_system_store_is_data_not_an_error(
    probe: TlsProbe,
    https_server: HttpSim,
) -> None:
    obs = await probe.run(target(at(https_server)))
    assert obs.error is None
    assert obs.tls is not None
    assert obs.tls.chain_valid is False
    assert obs.tls.chain_error is not None
    assert "local issuer" in obs.tls.chain_error


async def test_expired_certificate_reports_past_expiry_and_an_invalid_chain(
    probe: TlsProbe, https_expired: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(at(https_expired), ca_file=str(pki.ca_file)))
    assert obs.error is None
    assert obs.tls is not None
    assert obs.tls.leaf_not_after == pki.certs["expired"].certificate.not_valid_after_utc
    assert obs.tls.leaf_not_after < pki.now
    assert obs.tls.chain_valid is False
    assert obs.tls.chain_error is not None
    assert "expired" in obs.tls.chain_error


async def test_certificate_expiring_in_three_days_is_still_valid(
    probe: TlsProbe, start_http: StartHttp, pki: Pki
) -> None:
    sim = await start_http(ServerTls(pki.expiring.chain, pki.expiring.key))
    obs = await probe.run(target(at(sim), ca_file=str(pki.ca_file)))
    assert obs.tls is not None
    assert obs.tls.chain_valid is True
    assert obs.tls.leaf_not_after == pki.now + timedelta(days=3)


async def test_wrong_host_is_a_hostname_mismatch_on_a_valid_chain(
    probe: TlsProbe, https_wrong_host: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(at(https_wrong_host), ca_file=str(pki.ca_file)))
    assert obs.tls is not None
    assert obs.tls.hostname_match is False
    assert obs.tls.chain_valid is True
    assert obs.tls.sans == ("wrong.example",)


async def test_self_signed_certificate_is_reported_as_an_invalid_chain(
    probe: TlsProbe, https_self_signed: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(at(https_self_signed), ca_file=str(pki.ca_file)))
    assert obs.error is None
    assert obs.tls is not None
    assert obs.tls.chain_valid is False
    assert obs.tls.chain_error is not None
    assert "self-signed" in obs.tls.chain_error or "self signed" in obs.tls.chain_error
    assert obs.tls.subject == obs.tls.issuer


async def test_intermediate_expiring_before_the_leaf_sets_the_chain_earliest_expiry(
    probe: TlsProbe, https_chained: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(target(at(https_chained), ca_file=str(pki.ca_file)))
    assert obs.tls is not None
    assert obs.tls.chain_valid is True
    assert obs.tls.issuer == "CN=nephos test intermediate"
    assert obs.tls.chain_earliest_not_after == pki.intermediate_not_after
    assert obs.tls.leaf_not_after == pki.certs["chained"].certificate.not_valid_after_utc
    assert obs.tls.chain_earliest_not_after < obs.tls.leaf_not_after


async def test_server_name_is_sent_as_sni_and_used_for_the_hostname_match(
    probe: TlsProbe, start_http: StartHttp, pki: Pki
) -> None:
    sim = await start_http(ServerTls(pki.api_host.chain, pki.api_host.key))
    obs = await probe.run(target(at(sim), ca_file=str(pki.ca_file), server_name="api.test"))
    assert obs.tls is not None
    assert obs.tls.hostname_match is True


async def test_client_certificate_is_presented_for_mtls(
    probe: TlsProbe, https_mtls: HttpSim, pki: Pki
) -> None:
    obs = await probe.run(
        target(
            at(https_mtls),
            ca_file=str(pki.ca_file),
            cert_file=str(pki.client.cert),
            key_file=str(pki.client.key),
        )
    )
    assert obs.error is None
    assert obs.tls is not None
    assert obs.tls.chain_valid is True


async def test_minimum_version_above_the_server_maximum_fails_the_handshake(
    probe: TlsProbe, start_http: StartHttp, pki: Pki
) -> None:
    sim = await start_http(ServerTls(pki.valid.chain, pki.valid.key, max_version="1.2"))
    obs = await probe.run(target(at(sim), min_version="1.3"))
    assert obs.connected
    assert obs.tls is None
    assert obs.error is not None
    assert obs.error.startswith("TLS handshake failed")
    older = await probe.run(target(at(sim)))
    assert older.tls is not None
    assert older.tls.version == "TLSv1.2"


async def test_refused_port_is_reported_not_raised(probe: TlsProbe, tcp_server: TcpSim) -> None:
    port = tcp_server.port
    await tcp_server.stop()
    obs = await probe.run(target(f"127.0.0.1:{port}"))
    assert not obs.connected
    assert obs.error == f"cannot connect to 127.0.0.1:{port}: Connection refused"


async def test_server_that_never_speaks_tls_hits_the_timeout(probe: TlsProbe) -> None:
    async with TcpSim() as silent:
        obs = await probe.run(target(silent.address, timeout=0.3))
    assert obs.tls is None
    assert obs.error == "timed out after 0.3s"


async def test_bad_address_is_reported_not_raised(probe: TlsProbe) -> None:
    obs = await probe.run(target("host:notaport"))
    assert obs.error is not None
    assert "bad address" in obs.error


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("example.com:8443", ("example.com", 8443)),
        ("example.com", ("example.com", 443)),
        ("[::1]:853", ("::1", 853)),
        ("[::1]", ("::1", 443)),
        ("::1", ("::1", 443)),
    ],
)
def test_split_host_port_reads_names_ipv6_and_default_ports(
    address: str, expected: tuple[str, int]
) -> None:
    assert split_host_port(address, 443) == expected


def _cert_for(*sans: str) -> x509.Certificate:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return self_signed("x", sans=sans, not_before=now, not_after=now).certificate


@pytest.mark.parametrize(
    ("hostname", "sans", "matches"),
    [
        ("api.example.com", ("api.example.com",), True),
        ("API.Example.com.", ("api.example.com",), True),
        ("a.example.com", ("*.example.com",), True),
        ("example.com", ("*.example.com",), False),
        ("a.b.example.com", ("*.example.com",), False),
        ("a.com", ("*.com",), False),
        ("10.0.0.1", ("10.0.0.1",), True),
        ("10.0.0.1", ("10.0.0.2", "example.com"), False),
        ("::1", ("0:0:0:0:0:0:0:1",), True),
        ("other.com", ("api.example.com",), False),
    ],
)
def test_hostname_matching_follows_rfc_6125(
    hostname: str, sans: tuple[str, ...], matches: bool
) -> None:
    assert hostname_matches(hostname, _cert_for(*sans)) is matches
