"""The TCP probe against a real loopback TCP server: connect, send, expect, failures."""

from __future__ import annotations

from datetime import timedelta

from nephos.model import CheckKind, Target, TcpOptions
from nephos.probes.tcp import MAX_READ, TcpProbe
from nephos.sim.tcp_server import TcpSim


def target(address: str, *, timeout: float = 2.0, **tcp: object) -> Target:
    return Target(
        name="t",
        kind=CheckKind.TCP,
        address=address,
        timeout=timedelta(seconds=timeout),
        tcp=TcpOptions(**tcp),  # type: ignore[arg-type]
    )


async def test_plain_connect_reports_connected_peer_and_connect_time(tcp_server: TcpSim) -> None:
    obs = await TcpProbe().run(target(tcp_server.address))
    assert obs.error is None
    assert obs.connected
    assert obs.ip == "127.0.0.1"
    assert {"connect", "total"} <= set(obs.timings)
    assert obs.body == b""


async def test_expect_matches_the_banner(tcp_server: TcpSim) -> None:
    obs = await TcpProbe().run(target(tcp_server.address, expect=r"^220 .* ready"))
    assert obs.error is None
    assert obs.body == b"220 sim.test ready\r\n"


async def test_send_then_expect_matches_the_reply(tcp_server: TcpSim) -> None:
    obs = await TcpProbe().run(target(tcp_server.address, send="PING\n", expect="PONG"))
    assert obs.error is None
    assert obs.body.endswith(b"PONG\n")


async def test_expect_not_matched_before_the_peer_closes_is_an_error() -> None:
    async with TcpSim(banner=b"SSH-2.0-sim\r\n", close_after_banner=True) as sim:
        obs = await TcpProbe().run(target(sim.address, expect="^220"))
    assert obs.connected
    assert obs.error == "connection closed before /^220/ matched, read 'SSH-2.0-sim\\r\\n'"


async def test_expect_that_never_arrives_times_out_and_keeps_what_was_read(
    tcp_server: TcpSim,
) -> None:
    obs = await TcpProbe().run(target(tcp_server.address, expect="never", timeout=0.3))
    assert obs.connected
    assert obs.body == b"220 sim.test ready\r\n"
    assert obs.error == "timed out after 0.3s waiting for /never/, read '220 sim.test ready\\r\\n'"


async def test_reading_stops_at_the_bound_when_the_reply_never_matches() -> None:
    async with TcpSim(banner=b"x" * (MAX_READ + 1000)) as sim:
        obs = await TcpProbe().run(target(sim.address, expect="y"))
    assert len(obs.body) == MAX_READ
    assert obs.error == f"/y/ not found in the first {MAX_READ} bytes"


async def test_refused_connection_is_reported_not_raised(tcp_server: TcpSim) -> None:
    port = tcp_server.port
    await tcp_server.stop()
    obs = await TcpProbe().run(target(f"127.0.0.1:{port}"))
    assert not obs.connected
    assert obs.error == f"cannot connect to 127.0.0.1:{port}: Connection refused"


async def test_bad_expect_regex_is_reported_not_raised(tcp_server: TcpSim) -> None:
    obs = await TcpProbe().run(target(tcp_server.address, expect="(unclosed"))
    assert not obs.connected
    assert obs.error is not None
    assert obs.error.startswith("bad check settings")


async def test_address_without_a_port_is_reported_not_raised() -> None:
    obs = await TcpProbe().run(target("example.com"))
    assert obs.error == "no port in 'example.com'"
