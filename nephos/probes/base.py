"""The Probe base class and the Observation a probe returns.

A probe runs one check and reports what it saw, raw: status, body, timings, certificate and
DNS details, or the error. It does not judge. Conditions (``conditions.py``) and latency tiers
(``nephos.probes.classify``) turn an Observation into a CheckResult.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

from nephos.model import CheckKind, DnsInfo, Target, TlsInfo

__all__ = ["Observation", "Probe"]


@dataclass(frozen=True, slots=True)
class Observation:
    """What one check saw. ``error`` is set when the check could not complete.

    ``response_time`` is the total duration. ``timings`` are phase durations in ms (``dns``,
    ``connect``, ``tls``, ``ttfb``, ``total``). ``body`` is capped at the target's
    ``max_body_bytes``; ``body_truncated`` says when it was cut.
    """

    response_time: timedelta
    connected: bool = False
    status: int | None = None
    body: bytes = b""
    body_truncated: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    ip: str | None = None
    error: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    tls: TlsInfo | None = None
    dns: DnsInfo | None = None


class Probe(abc.ABC):
    """Runs checks of one kind. One instance serves many targets concurrently."""

    kind: ClassVar[CheckKind]

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open shared resources (connection pools); called once before the first run."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release shared resources."""

    @abc.abstractmethod
    async def run(self, target: Target) -> Observation:
        """Check ``target`` once, within ``target.timeout``.

        Never raises for a failure of the target: a refused connection, a timeout or a bad
        certificate are reported in ``Observation.error``.
        """
