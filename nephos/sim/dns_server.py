"""A tiny authoritative UDP DNS responder on dnspython, for probe tests and ``nephos demo``.

It answers from a dict ``{(name, type): [values]}`` that may change while it runs: NOERROR
with the records, NOERROR with no answer when the name exists under another type, NXDOMAIN
for unknown names, SERVFAIL for names marked failing, and silence for names marked dropped
(so that a resolver times out). Values are zone-file text: ``"192.0.2.1"``, ``"10 mx.example."``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["DnsSim"]

RecordKey = tuple[str, str]


def _key(name: str, record_type: str) -> RecordKey:
    return (dns.name.from_text(name).to_text().lower(), record_type.upper())


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, sim: DnsSim) -> None:
        self._sim = sim
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self._sim.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsSim:
    """A UDP DNS server on ``host`` (127.0.0.1) and an ephemeral port by default.

    ``address`` is ``"127.0.0.1:<port>"``, the form ``DnsOptions.resolvers`` takes.
    """

    def __init__(
        self,
        records: Mapping[tuple[str, str], Iterable[str]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ttl: int = 60,
        servfail: Iterable[str] = (),
        drop: Iterable[str] = (),
    ) -> None:
        self.host = host
        self.ttl = ttl
        self._requested_port = port
        self._records: dict[RecordKey, list[str]] = {}
        for (name, record_type), values in (records or {}).items():
            self.set_records(name, record_type, values)
        self._servfail = {_key(n, "A")[0] for n in servfail}
        self._drop = {_key(n, "A")[0] for n in drop}
        self._transport: asyncio.DatagramTransport | None = None
        self._port: int | None = None
        self.queries = 0

    # ------------------------------------------------------------------ records

    def set_records(self, name: str, record_type: str, values: Iterable[str]) -> None:
        """Serve ``values`` for ``name``/``record_type``, replacing what was there."""
        self._records[_key(name, record_type)] = list(values)

    def remove_records(self, name: str, record_type: str) -> None:
        """Stop serving ``name``/``record_type``."""
        self._records.pop(_key(name, record_type), None)

    def set_servfail(self, name: str, failing: bool = True) -> None:
        """Answer SERVFAIL for ``name`` (any type) while ``failing``."""
        key = _key(name, "A")[0]
        if failing:
            self._servfail.add(key)
        else:
            self._servfail.discard(key)

    def set_drop(self, name: str, dropping: bool = True) -> None:
        """Never answer queries for ``name`` while ``dropping``."""
        key = _key(name, "A")[0]
        if dropping:
            self._drop.add(key)
        else:
            self._drop.discard(key)

    def answer(self, wire: bytes) -> bytes | None:
        """The wire reply to one query, or None to stay silent (malformed or dropped)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        self.queries += 1
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        name = question.name.to_text().lower()
        record_type = dns.rdatatype.to_text(question.rdtype)
        if name in self._drop:
            return None
        if name in self._servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        values = self._records.get((name, record_type))
        if values:
            rrset = dns.rrset.from_text_list(
                question.name, self.ttl, dns.rdataclass.IN, question.rdtype, values
            )
            response.answer.append(rrset)
        elif not any(key[0] == name for key in self._records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The port actually bound.

        Raises:
            RuntimeError: the server has not been started.
        """
        if self._port is None:
            raise RuntimeError("DnsSim is not started")
        return self._port

    @property
    def address(self) -> str:
        """``"<host>:<port>"``, as ``DnsOptions.resolvers`` expects."""
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind the UDP socket and start answering.

        Raises:
            OSError: the address cannot be bound.
        """
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Responder(self), local_addr=(self.host, self._requested_port)
        )
        self._transport = transport
        self._port = int(transport.get_extra_info("sockname")[1])

    async def stop(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> DnsSim:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
