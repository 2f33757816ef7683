"""ProbeSet: one probe per check kind, started and closed together, run by target kind.

INSTANCE targets are not probed here: their state comes from the cloud providers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from types import TracebackType

from nephos.errors import ProbeError
from nephos.model import CheckKind, Target
from nephos.probes.base import Observation, Probe
from nephos.probes.dns import DnsProbe
from nephos.probes.http import HttpProbe
from nephos.probes.tcp import TcpProbe
from nephos.probes.tls import TlsProbe

__all__ = ["ProbeSet"]

log = logging.getLogger(__name__)

# Beyond the target's own timeout, how long a probe may take to give its answer back before
# ProbeSet gives up on it (the TLS probe's worker thread, for one, reports just after).
_GRACE_SECONDS = 1.0


class ProbeSet:
    """The probes for HTTP, TLS, DNS and TCP checks.

    ``probes`` replaces the defaults for the kinds it names (a benchmark may pass
    ``{CheckKind.HTTP: HttpProbe(keepalive=True)}``). Use as ``async with ProbeSet() as probes``
    or call :meth:`start` and :meth:`close`.
    """

    def __init__(self, probes: Mapping[CheckKind, Probe] | None = None) -> None:
        defaults: dict[CheckKind, Probe] = {
            CheckKind.HTTP: HttpProbe(),
            CheckKind.TLS: TlsProbe(),
            CheckKind.DNS: DnsProbe(),
            CheckKind.TCP: TcpProbe(),
        }
        defaults.update(probes or {})
        if CheckKind.INSTANCE in defaults:
            raise ValueError("instance targets are not probed; providers report them")
        self._probes = defaults

    @property
    def kinds(self) -> frozenset[CheckKind]:
        """The kinds this set can run."""
        return frozenset(self._probes)

    async def start(self) -> None:
        """Open every probe's shared resources."""
        for probe in self._probes.values():
            await probe.start()

    async def close(self) -> None:
        """Release every probe's shared resources (a failing close does not stop the others)."""
        for probe in self._probes.values():
            try:
                await probe.close()
            except Exception:  # closing is best effort; the other probes still get closed
                log.warning("closing the %s probe failed", probe.kind, exc_info=True)

    async def __aenter__(self) -> ProbeSet:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def run(self, target: Target) -> Observation:
        """Check ``target`` once with the probe of its kind.

        Never raises for a failure of the target, nor for a bug in a probe: both come back as
        ``Observation.error`` so that one bad check cannot stop the sentinel.

        Raises:
            ProbeError: no probe handles ``target.kind`` (an INSTANCE target).
        """
        probe = self._probes.get(target.kind)
        if probe is None:
            raise ProbeError(f"no probe runs {target.kind} checks (target {target.name!r})")
        started = time.perf_counter()
        seconds = target.timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds + _GRACE_SECONDS):
                return await probe.run(target)
        except TimeoutError:
            error = f"timed out after {seconds:g}s"
        except Exception as exc:  # a probe bug must not stop the sentinel loop
            log.exception("the %s probe failed on target %s", target.kind, target.name)
            error = f"probe failed: {type(exc).__name__}: {exc}"
        return Observation(timedelta(seconds=time.perf_counter() - started), error=error)
