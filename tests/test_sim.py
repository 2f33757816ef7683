"""The loopback simulators themselves: certificates on disk, scripted routes, DNS and TCP."""

from __future__ import annotations

import asyncio
import pathlib
import ssl
from datetime import UTC, datetime, timedelta

import aiohttp
import dns.asyncquery
import dns.message
import dns.rcode
import pytest
from cryptography import x509

from nephos.clock import ManualClock
from nephos.sim.certs import CertificateAuthority, self_signed, validity
from nephos.sim.dns_server import DnsSim
from nephos.sim.http_server import Hang, HttpSim, Respond
from nephos.sim.tcp_server import TcpSim
from tests.conftest import Pki


def test_validity_window_is_relative_to_the_given_now() -> None:
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert validity(-2, before=30, now=now) == (now - timedelta(days=30), now - timedelta(days=2))


def test_issued_chain_is_written_leaf_first_and_loads_into_an_ssl_context(
    tmp_path: pathlib.Path,
) -> None:
    nb, na = validity(30)
    root = CertificateAuthority("root", not_before=nb, not_after=na)
    inter = root.intermediate("inter", not_before=nb, not_after=na)
    files = inter.issue("svc", sans=("svc.test", "10.1.2.3"), not_before=nb, not_after=na).write(
        tmp_path, "svc"
    )
    chain = x509.load_pem_x509_certificates(files.chain.read_bytes())
    assert [c.subject.rfc4514_string() for c in chain] == ["CN=svc", "CN=inter"]
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["svc.test"]
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(files.chain, files.key)
    ca = ssl.create_default_context(cafile=str(root.write(tmp_path)))
    assert ca.get_ca_certs()[0]["subject"] == ((("commonName", "root"),),)


def test_self_signed_certificate_is_its_own_issuer() -> None:
    nb, na = validity(1)
    cert = self_signed("me", not_before=nb, not_after=na).certificate
    assert cert.issuer == cert.subject


async def test_route_replaced_while_running_takes_effect(http_server: HttpSim) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(http_server.url("/ok")) as before:
            assert before.status == 200
        http_server.add_route("/ok", Respond(status=500, body="broken"))
        async with session.get(http_server.url("/ok")) as after:
            assert (after.status, await after.text()) == (500, "broken")
        http_server.remove_route("/ok")
        async with session.get(http_server.url("/ok")) as gone:
            assert gone.status == 404
    assert http_server.hits["/ok"] == 3


async def test_callable_delay_is_read_on_every_request_through_the_clock() -> None:
    clock = ManualClock()
    delays = iter([0.0, 5.0])
    async with HttpSim(clock=clock) as sim:
        sim.add_route("/drift", Respond(body="x", delay=lambda: next(delays)))
        async with aiohttp.ClientSession() as session:
            async with session.get(sim.url("/drift")) as fast:
                assert fast.status == 200
            slow = asyncio.create_task(session.get(sim.url("/drift")))
            while sim.hits["/drift"] < 2:
                await asyncio.sleep(0.01)
            assert not slow.done()
            clock.advance(5)
            response = await slow
            assert response.status == 200
            response.release()


async def test_stopping_the_server_releases_hanging_requests() -> None:
    sim = HttpSim()
    sim.add_route("/hang", Hang())
    await sim.start()
    async with aiohttp.ClientSession() as session:
        request = asyncio.create_task(session.get(sim.url("/hang")))
        while not sim.hits["/hang"]:
            await asyncio.sleep(0.01)
        await sim.stop()
        response = await request
        assert (response.status, await response.text()) == (503, "server stopping")


async def test_dns_servfail_and_drop_can_be_toggled_at_run_time(dns_server: DnsSim) -> None:
    query = dns.message.make_query("www.example.test", "A")
    dns_server.set_servfail("www.example.test")
    failing = await dns.asyncquery.udp(query, "127.0.0.1", port=dns_server.port, timeout=2)
    assert failing.rcode() == dns.rcode.SERVFAIL
    dns_server.set_servfail("www.example.test", False)
    dns_server.set_drop("www.example.test")
    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.udp(query, "127.0.0.1", port=dns_server.port, timeout=0.2)
    dns_server.set_drop("www.example.test", False)
    dns_server.remove_records("www.example.test", "A")
    dns_server.remove_records("www.example.test", "AAAA")
    gone = await dns.asyncquery.udp(query, "127.0.0.1", port=dns_server.port, timeout=2)
    assert gone.rcode() == dns.rcode.NXDOMAIN


async def test_tcp_server_echoes_unknown_lines_and_answers_known_ones(tcp_server: TcpSim) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_server.port)
    assert await reader.readline() == b"220 sim.test ready\r\n"
    writer.write(b"hello\nPING\n")
    assert await reader.readline() == b"hello\n"
    assert await reader.readline() == b"PONG\n"
    writer.close()
    await writer.wait_closed()
    assert tcp_server.connections == 1


def test_pki_fixture_intermediate_expires_before_its_leaf(pki: Pki) -> None:
    leaf = pki.certs["chained"]
    assert leaf.intermediates[0].not_valid_after_utc < leaf.certificate.not_valid_after_utc


def test_port_is_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = HttpSim().port
