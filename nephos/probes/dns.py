"""The DNS probe on dnspython's asyncio layer: every answer, the rcode as text, per resolver.

With resolvers configured (``"ip"`` or ``"ip:port"``) each one is asked directly and
concurrently, so that the rcode is the server's own (SERVFAIL stays SERVFAIL) and resolvers
that disagree are named in the error. Without, the system resolver configuration is used
through ``dns.asyncresolver``. All answers of the asked type are reported, sorted, as text;
when ``dns.expected`` is set, missing and unexpected records are listed in the error.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from datetime import timedelta

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from nephos.model import CheckKind, DnsInfo, DnsOptions, Target
from nephos.probes.base import Observation, Probe
from nephos.probes.tls import split_host_port

__all__ = ["DnsProbe", "normalise_record"]


def normalise_record(record_type: str, text: str) -> str:
    """A record's text in a form that compares equal however it was written.

    Names lose case and the trailing dot (``Mail.Example.com.`` equals ``mail.example.com``),
    TXT loses its quoting, addresses are canonical (``::0001`` equals ``::1``).
    """
    text = text.strip()
    kind = record_type.upper()
    if kind == "TXT":
        parts = text.split('" "') if text.startswith('"') else [text]
        return "".join(p.strip('"') for p in parts)
    if kind in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    return " ".join(token.lower().rstrip(".") or "." for token in text.split())


@dataclass(frozen=True, slots=True)
class _Answer:
    """One resolver's reply: rcode and answers, or why there was none."""

    resolver: str
    rcode: str | None = None
    answers: tuple[str, ...] = ()
    error: str | None = None

    def summary(self) -> str:
        if self.error:
            return f"{self.resolver}: {self.error}"
        shown = ", ".join(self.answers) if self.answers else "no records"
        return f"{self.resolver}: {self.rcode} [{shown}]"


class DnsProbe(Probe):
    """Resolves ``target.address`` with ``target.dns`` options."""

    kind = CheckKind.DNS

    def __init__(self, *, system_resolver: dns.asyncresolver.Resolver | None = None) -> None:
        """``system_resolver`` replaces the one read from ``/etc/resolv.conf`` (for tests,
        or a host whose stub resolver listens on another port)."""
        self._system = system_resolver

    async def start(self) -> None:
        """Read the system resolver configuration once (``/etc/resolv.conf``)."""
        if self._system is None:
            try:
                self._system = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                self._system = None

    async def run(self, target: Target) -> Observation:
        """Check ``target`` once, within ``target.timeout``; never raises for target failures."""
        opts = target.dns
        seconds = target.timeout.total_seconds()
        started = time.perf_counter()
        try:
            name = dns.name.from_text(target.address)
            rdtype = dns.rdatatype.from_text(opts.record_type)
        except (dns.exception.DNSException, ValueError) as exc:
            return Observation(timedelta(0), error=f"bad query {target.address!r}: {exc}")
        # Each resolver gets the whole timeout, concurrently, so a slow one cannot hide what
        # the others said.
        if opts.resolvers:
            answers = await asyncio.gather(
                *(self._ask(r, name, rdtype, seconds) for r in opts.resolvers)
            )
        else:
            answers = [await self._ask_system(name, rdtype, seconds)]
        elapsed = time.perf_counter() - started
        return _observation(opts, list(answers), elapsed)

    async def _ask(
        self, resolver: str, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, seconds: float
    ) -> _Answer:
        try:
            host, port = split_host_port(resolver, 53)
        except ValueError:
            return _Answer(resolver, error=f"bad resolver address {resolver!r}")
        query = dns.message.make_query(name, rdtype)
        try:
            async with asyncio.timeout(seconds):
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, host, timeout=seconds, port=port
                )
        except (TimeoutError, dns.exception.Timeout):
            return _Answer(resolver, error=f"timed out after {seconds:g}s")
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return _Answer(resolver, error=f"query failed: {exc}")
        answers = sorted(
            rdata.to_text()
            for rrset in response.answer
            if rrset.rdtype == rdtype
            for rdata in rrset
        )
        return _Answer(resolver, rcode=dns.rcode.to_text(response.rcode()), answers=tuple(answers))

    async def _ask_system(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, seconds: float
    ) -> _Answer:
        if self._system is None:
            await self.start()
        if self._system is None:
            return _Answer("system", error="no system resolver is configured")
        try:
            async with asyncio.timeout(seconds):
                answer = await self._system.resolve(
                    name, rdtype, raise_on_no_answer=False, lifetime=seconds, search=False
                )
        except dns.resolver.NXDOMAIN:
            return _Answer("system", rcode="NXDOMAIN")
        except (TimeoutError, dns.resolver.LifetimeTimeout):
            return _Answer("system", error=f"timed out after {seconds:g}s")
        except dns.resolver.NoNameservers as exc:
            return _Answer("system", error=f"no server answered: {exc}")
        except (dns.exception.DNSException, OSError) as exc:
            return _Answer("system", error=f"query failed: {exc}")
        records = sorted(rdata.to_text() for rdata in answer.rrset or ())
        rcode = dns.rcode.to_text(answer.response.rcode())
        return _Answer("system", rcode=rcode, answers=tuple(records))


def _observation(opts: DnsOptions, answers: list[_Answer], elapsed: float) -> Observation:
    first = next((a for a in answers if a.error is None), answers[0])
    info = (
        DnsInfo(opts.record_type.upper(), first.rcode, first.answers, first.resolver)
        if first.rcode is not None
        else None
    )
    problems = [a.summary() for a in answers if a.error]
    replies = {(a.rcode, a.answers) for a in answers if a.error is None}
    if len(replies) > 1:
        problems.append("resolvers disagree: " + "; ".join(a.summary() for a in answers))
    if info is not None:
        expected_rcode = opts.expected_rcode.upper()
        if info.rcode != expected_rcode:
            problems.append(f"rcode {info.rcode}, expected {expected_rcode}")
        elif opts.expected:
            problems.extend(_compare(opts, info.answers))
    return Observation(
        timedelta(seconds=elapsed),
        connected=info is not None,
        error="; ".join(problems) or None,
        timings={"dns": round(elapsed * 1000, 3), "total": round(elapsed * 1000, 3)},
        dns=info,
    )


def _compare(opts: DnsOptions, answers: tuple[str, ...]) -> list[str]:
    """Words for the difference between the expected and the actual answer sets."""
    kind = opts.record_type
    got = {normalise_record(kind, a): a for a in answers}
    want = {normalise_record(kind, e): e for e in opts.expected}
    missing = sorted(want[k] for k in want.keys() - got.keys())
    unexpected = sorted(got[k] for k in got.keys() - want.keys())
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected))
    return problems
