"""The DNS probe against a real loopback DNS server: answers, expected sets, rcodes, resolvers."""

from __future__ import annotations

from datetime import timedelta

import dns.asyncresolver
import pytest

from nephos.model import CheckKind, DnsOptions, Target
from nephos.probes.dns import DnsProbe, normalise_record
from nephos.sim.dns_server import DnsSim


def target(name: str, *resolvers: str, timeout: float = 2.0, **dns: object) -> Target:
    return Target(
        name="t",
        kind=CheckKind.DNS,
        address=name,
        timeout=timedelta(seconds=timeout),
        dns=DnsOptions(resolvers=resolvers, **dns),  # type: ignore[arg-type]
    )


async def test_every_a_record_is_reported_sorted(dns_server: DnsSim) -> None:
    obs = await DnsProbe().run(target("www.example.test", dns_server.address))
    assert obs.error is None
    assert obs.connected
    assert obs.dns is not None
    assert obs.dns.rcode == "NOERROR"
    assert obs.dns.record_type == "A"
    assert obs.dns.answers == ("192.0.2.10", "192.0.2.11", "192.0.2.12")
    assert obs.dns.resolver == dns_server.address
    assert "dns" in obs.timings


async def test_record_type_is_honoured(dns_server: DnsSim) -> None:
    obs = await DnsProbe().run(target("example.test", dns_server.address, record_type="MX"))
    assert obs.dns is not None
    assert obs.dns.answers == ("10 mail.example.test.", "20 backup.example.test.")


async def test_expected_set_that_matches_in_any_order_and_spelling_is_not_an_error(
    dns_server: DnsSim,
) -> None:
    expected = ("192.0.2.12", "192.0.2.10", "192.0.2.11")
    obs = await DnsProbe().run(target("www.example.test", dns_server.address, expected=expected))
    assert obs.error is None


async def test_expected_set_that_differs_names_missing_and_unexpected_records(
    dns_server: DnsSim,
) -> None:
    expected = ("192.0.2.10", "192.0.2.11", "192.0.2.99")
    obs = await DnsProbe().run(target("www.example.test", dns_server.address, expected=expected))
    assert obs.error == "missing 192.0.2.99; unexpected 192.0.2.12"
    assert obs.dns is not None
    assert len(obs.dns.answers) == 3


async def test_expected_mx_set_ignores_case_and_trailing_dots(dns_server: DnsSim) -> None:
    obs = await DnsProbe().run(
        target(
            "example.test",
            dns_server.address,
            record_type="MX",
            expected=("20 Backup.Example.Test", "10 mail.example.test"),
        )
    )
    assert obs.error is None


async def test_unknown_name_is_nxdomain_and_an_error_when_noerror_is_expected(
    dns_server: DnsSim,
) -> None:
    obs = await DnsProbe().run(target("nope.example.test", dns_server.address))
    assert obs.dns is not None
    assert obs.dns.rcode == "NXDOMAIN"
    assert obs.dns.answers == ()
    assert obs.error == "rcode NXDOMAIN, expected NOERROR"


async def test_nxdomain_is_fine_when_it_is_the_expected_rcode(dns_server: DnsSim) -> None:
    obs = await DnsProbe().run(
        target("nope.example.test", dns_server.address, expected_rcode="NXDOMAIN")
    )
    assert obs.error is None


async def test_servfail_is_reported_as_servfail(dns_server: DnsSim) -> None:
    obs = await DnsProbe().run(target("broken.example.test", dns_server.address))
    assert obs.dns is not None
    assert obs.dns.rcode == "SERVFAIL"
    assert obs.error == "rcode SERVFAIL, expected NOERROR"


async def test_name_with_other_types_only_answers_noerror_with_no_records(
    dns_server: DnsSim,
) -> None:
    obs = await DnsProbe().run(target("example.test", dns_server.address, record_type="A"))
    assert obs.dns is not None
    assert obs.dns.rcode == "NOERROR"
    assert obs.dns.answers == ()
    assert obs.error is None


async def test_records_changed_at_run_time_are_seen_by_the_next_check(dns_server: DnsSim) -> None:
    dns_server.set_records("www.example.test", "A", ["198.51.100.7"])
    obs = await DnsProbe().run(target("www.example.test", dns_server.address))
    assert obs.dns is not None
    assert obs.dns.answers == ("198.51.100.7",)


async def test_resolvers_that_agree_produce_no_error(dns_server: DnsSim) -> None:
    async with DnsSim({("www.example.test", "A"): ["192.0.2.12", "192.0.2.11", "192.0.2.10"]}) as b:
        obs = await DnsProbe().run(target("www.example.test", dns_server.address, b.address))
    assert obs.error is None


async def test_resolvers_that_disagree_are_named_with_their_answers(dns_server: DnsSim) -> None:
    async with DnsSim({("www.example.test", "A"): ["203.0.113.5"]}) as other:
        obs = await DnsProbe().run(target("www.example.test", dns_server.address, other.address))
    assert obs.error is not None
    assert obs.error.startswith("resolvers disagree: ")
    assert f"{dns_server.address}: NOERROR [192.0.2.10, 192.0.2.11, 192.0.2.12]" in obs.error
    assert f"{other.address}: NOERROR [203.0.113.5]" in obs.error
    assert obs.dns is not None
    assert obs.dns.resolver == dns_server.address


async def test_a_silent_resolver_times_out_while_the_other_still_answers(
    dns_server: DnsSim,
) -> None:
    async with DnsSim(drop=["www.example.test"]) as silent:
        obs = await DnsProbe().run(
            target("www.example.test", silent.address, dns_server.address, timeout=0.3)
        )
    assert obs.error == f"{silent.address}: timed out after 0.3s"
    assert obs.dns is not None
    assert obs.dns.resolver == dns_server.address
    assert len(obs.dns.answers) == 3


async def test_bad_resolver_address_is_reported_not_raised() -> None:
    obs = await DnsProbe().run(target("www.example.test", "127.0.0.1:notaport"))
    assert obs.dns is None
    assert obs.error == "127.0.0.1:notaport: bad resolver address '127.0.0.1:notaport'"


async def test_bad_record_type_is_reported_not_raised(dns_server: DnsSim) -> None:
    obs = await DnsProbe().run(target("example.test", dns_server.address, record_type="NOPE"))
    assert obs.error is not None
    assert obs.error.startswith("bad query")


@pytest.mark.parametrize(
    ("record_type", "left", "right"),
    [
        ("A", "192.0.2.1", " 192.0.2.1 "),
        ("AAAA", "2001:db8::1", "2001:0db8:0:0::1"),
        ("CNAME", "WWW.Example.com.", "www.example.com"),
        ("MX", "10 Mail.Example.com.", "10 mail.example.com"),
        ("TXT", '"v=spf1 " "-all"', "v=spf1 -all"),
    ],
)
def test_normalised_records_compare_equal_however_written(
    record_type: str, left: str, right: str
) -> None:
    assert normalise_record(record_type, left) == normalise_record(record_type, right)


def _system_resolver(sim: DnsSim) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [sim.host]
    resolver.port = sim.port
    return resolver


async def test_system_resolver_path_reports_answers(dns_server: DnsSim) -> None:
    probe = DnsProbe(system_resolver=_system_resolver(dns_server))
    obs = await probe.run(target("www.example.test", record_type="AAAA"))
    assert obs.error is None
    assert obs.dns is not None
    assert obs.dns.answers == ("2001:db8::10",)
    assert obs.dns.resolver == "system"


async def test_system_resolver_path_reports_nxdomain(dns_server: DnsSim) -> None:
    probe = DnsProbe(system_resolver=_system_resolver(dns_server))
    obs = await probe.run(target("nope.example.test"))
    assert obs.dns is not None
    assert obs.dns.rcode == "NXDOMAIN"
    assert obs.error == "rcode NXDOMAIN, expected NOERROR"


async def test_system_resolver_path_reports_a_failing_server_as_an_error(
    dns_server: DnsSim,
) -> None:
    probe = DnsProbe(system_resolver=_system_resolver(dns_server))
    obs = await probe.run(target("broken.example.test"))
    assert obs.dns is None
    assert obs.error is not None
    assert obs.error.startswith("system: no server answered")
    assert "SERVFAIL" in obs.error


async def test_system_resolver_path_times_out(dns_server: DnsSim) -> None:
    dns_server.set_drop("www.example.test")
    probe = DnsProbe(system_resolver=_system_resolver(dns_server))
    obs = await probe.run(target("www.example.test", timeout=0.3))
    assert obs.error == "system: timed out after 0.3s"
