"""The TCP probe: connect to host:port, optionally send a line and match a regex on the reply.

What is read is bounded (``MAX_READ`` bytes) and reported in ``Observation.body`` so that
conditions can look at a banner; it is only read when ``tcp.expect`` is set, since a server
that says nothing would otherwise hold every check until its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from datetime import timedelta

from nephos.model import CheckKind, Target
from nephos.probes.base import Observation, Probe
from nephos.probes.tls import split_host_port

__all__ = ["MAX_READ", "TcpProbe"]

MAX_READ = 64 * 1024


class TcpProbe(Probe):
    """Connects to ``target.address`` (``host:port``) with ``target.tcp`` options."""

    kind = CheckKind.TCP

    async def run(self, target: Target) -> Observation:
        """Check ``target`` once, within ``target.timeout``; never raises for target failures."""
        opts = target.tcp
        seconds = target.timeout.total_seconds()
        started = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            host, port = split_host_port(target.address, 0)
            pattern = re.compile(opts.expect) if opts.expect is not None else None
        except (ValueError, re.error) as exc:
            return Observation(timedelta(0), error=f"bad check settings: {exc}")
        if not port:
            return Observation(timedelta(0), error=f"no port in {target.address!r}")

        writer: asyncio.StreamWriter | None = None
        ip: str | None = None
        received = bytearray()  # filled in place, so a timeout keeps what had arrived
        error: str | None = None
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(host, port)
                timings["connect"] = round((time.perf_counter() - started) * 1000, 3)
                peer = writer.get_extra_info("peername")
                ip = str(peer[0]) if peer else None
                if opts.send is not None:
                    writer.write(opts.send.encode())
                    await writer.drain()
                if pattern is not None:
                    error = await _read_until(reader, pattern, received)
        except TimeoutError:
            if writer is None:
                error = f"timed out after {seconds:g}s connecting"
            else:
                error = f"timed out after {seconds:g}s waiting for /{opts.expect}/"
                error += f", read {_show(received)}"
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            error = f"cannot connect to {host}:{port}: {reason}" if writer is None else reason
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        elapsed = time.perf_counter() - started
        timings["total"] = round(elapsed * 1000, 3)
        return Observation(
            timedelta(seconds=elapsed),
            connected="connect" in timings,
            ip=ip,
            body=bytes(received),
            error=error,
            timings=timings,
        )


async def _read_until(
    reader: asyncio.StreamReader, pattern: re.Pattern[str], received: bytearray
) -> str | None:
    """Read into ``received`` until ``pattern`` matches, the peer closes or ``MAX_READ`` bytes
    arrived; None when it matched, else why not."""
    while len(received) < MAX_READ:
        chunk = await reader.read(MAX_READ - len(received))
        if not chunk:
            return f"connection closed before /{pattern.pattern}/ matched, read {_show(received)}"
        received += chunk
        if pattern.search(received.decode("utf-8", "replace")):
            return None
    return f"/{pattern.pattern}/ not found in the first {MAX_READ} bytes"


def _show(data: bytes | bytearray, limit: int = 80) -> str:
    """A short, quoted rendering of bytes read from the peer (which is data, not trusted)."""
    text = data.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "…")
