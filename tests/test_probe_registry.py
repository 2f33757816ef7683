"""ProbeSet: dispatch by kind over real loopback servers, and its refusal of INSTANCE."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nephos.errors import ProbeError
from nephos.model import CheckKind, DnsOptions, Target
from nephos.probes.base import Observation, Probe
from nephos.probes.http import HttpProbe
from nephos.probes.registry import ProbeSet
from nephos.sim.dns_server import DnsSim
from nephos.sim.http_server import HttpSim
from nephos.sim.tcp_server import TcpSim


async def test_each_kind_is_run_by_its_own_probe(
    http_server: HttpSim, https_server: HttpSim, dns_server: DnsSim, tcp_server: TcpSim
) -> None:
    targets = [
        Target("web", CheckKind.HTTP, http_server.url("/ok")),
        Target("cert", CheckKind.TLS, f"127.0.0.1:{https_server.port}"),
        Target(
            "name",
            CheckKind.DNS,
            "www.example.test",
            dns=DnsOptions(resolvers=(dns_server.address,)),
        ),
        Target("port", CheckKind.TCP, tcp_server.address),
    ]
    async with ProbeSet() as probes:
        web, cert, name, port = [await probes.run(t) for t in targets]
    assert web.status == 200
    assert cert.tls is not None
    assert name.dns is not None
    assert port.connected


async def test_instance_targets_are_refused_with_a_probe_error() -> None:
    async with ProbeSet() as probes:
        with pytest.raises(ProbeError, match="no probe runs instance checks"):
            await probes.run(Target("vm", CheckKind.INSTANCE, "i-123"))


def test_an_instance_probe_cannot_be_registered() -> None:
    with pytest.raises(ValueError, match="not probed"):
        ProbeSet({CheckKind.INSTANCE: HttpProbe()})


class _BrokenProbe(Probe):
    kind = CheckKind.TCP

    async def run(self, target: Target) -> Observation:
        raise RuntimeError("a bug")


async def test_a_probe_bug_comes_back_as_an_error_not_an_exception() -> None:
    async with ProbeSet({CheckKind.TCP: _BrokenProbe()}) as probes:
        obs = await probes.run(Target("port", CheckKind.TCP, "127.0.0.1:1"))
    assert obs.error == "probe failed: RuntimeError: a bug"


async def test_configured_probe_replaces_the_default(http_server: HttpSim) -> None:
    target = Target("web", CheckKind.HTTP, http_server.url("/ok"), timeout=timedelta(seconds=2))
    async with ProbeSet({CheckKind.HTTP: HttpProbe(keepalive=True)}) as probes:
        first = await probes.run(target)
        second = await probes.run(target)
    assert "connect" in first.timings
    assert "connect" not in second.timings
    assert probes.kinds == {CheckKind.HTTP, CheckKind.TLS, CheckKind.DNS, CheckKind.TCP}
