"""This host's CPU, memory, disk, network and load, sampled with psutil as metric points.

Rates (CPU busy share, network bytes a second) are differences between two readings, so the
first :meth:`HostSampler.sample` after construction carries only the gauges; call
:meth:`HostSampler.prime` a moment earlier to have them at once. Sending lives in
``pusher.py``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from nephos.clock import Clock, SystemClock
from nephos.model import MetricPoint

__all__ = ["DISK_METRIC_PREFIX", "PSEUDO_FILESYSTEMS", "HostSampler", "disk_mounts"]

log = logging.getLogger(__name__)

DISK_METRIC_PREFIX = "disk_percent:"
"""Disk use is one series per mount: ``disk_percent:/``, ``disk_percent:/home``."""

PSEUDO_FILESYSTEMS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devfs",
        "devpts", "devtmpfs", "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "overlay",
        "proc", "pstore", "ramfs", "rpc_pipefs", "securityfs", "squashfs", "sysfs", "tmpfs",
        "tracefs", "nullfs", "iso9660", "udf",
    }
)  # fmt: skip
"""Filesystem types that hold no data worth watching (kernel views, RAM, read-only images)."""

_PSEUDO_ROOTS = ("/proc", "/sys", "/dev", "/run", "/snap", "/var/lib/docker", "/var/snap")
_MAX_METRIC = 200  # the longest metric name POST /ingest accepts


def disk_mounts(partitions: list[Any]) -> list[str]:
    """The mount points of ``psutil.disk_partitions()`` that hold real data, each once."""
    seen: set[str] = set()
    mounts = []
    for part in partitions:
        mount = part.mountpoint
        if part.fstype.lower() in PSEUDO_FILESYSTEMS or part.fstype.startswith("fuse."):
            continue
        if any(mount == root or mount.startswith(root + "/") for root in _PSEUDO_ROOTS):
            continue
        if mount in seen or len(DISK_METRIC_PREFIX) + len(mount) > _MAX_METRIC:
            continue
        seen.add(mount)
        mounts.append(mount)
    return mounts


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float  # clock.monotonic()
    cpu_busy: float
    cpu_total: float
    net_in: int
    net_out: int


class HostSampler:
    """Reads this host's vital signs as :class:`~nephos.model.MetricPoint` values.

    Metric names and units: ``cpu_percent`` (%), ``mem_percent`` (%), ``disk_percent:<mount>``
    (%, one series per mount), ``net_in_bytes_per_s`` and ``net_out_bytes_per_s`` (B/s, every
    interface but loopback), ``load1`` (the one-minute load average).

    Args:
        instance: the name the points carry (the host name, by default in the CLI).
        provider: the provider the points carry.
        clock: stamps the points and times the rates.
    """

    def __init__(self, instance: str, *, provider: str = "other", clock: Clock | None = None):
        self.instance = instance
        self.provider = provider
        self._clock: Clock = clock or SystemClock()
        self._last: _Reading | None = None

    def prime(self) -> None:
        """Take the reading that the next :meth:`sample`'s rates are measured from."""
        self._last = self._read()

    def sample(self) -> list[MetricPoint]:
        """The gauges now, and the rates since the previous reading (none on the first call)."""
        import psutil

        now = self._clock.now()
        reading = self._read()
        values: list[tuple[str, str, float]] = [
            ("mem_percent", "%", float(psutil.virtual_memory().percent)),
        ]
        previous, self._last = self._last, reading
        if previous is not None:
            values.extend(_rates(previous, reading))
        for mount in disk_mounts(psutil.disk_partitions(all=False)):
            try:
                used = float(psutil.disk_usage(mount).percent)
            except OSError as exc:  # unmounted meanwhile, or not ours to read
                log.debug("agent: cannot read disk use of %s: %s", mount, exc)
                continue
            values.append((DISK_METRIC_PREFIX + mount, "%", used))
        if hasattr(os, "getloadavg"):
            values.append(("load1", "load", float(os.getloadavg()[0])))
        return [
            MetricPoint(self.instance, metric, unit, now, value, self.provider)
            for metric, unit, value in values
        ]

    def _read(self) -> _Reading:
        import psutil

        times = psutil.cpu_times()
        total = float(sum(times))
        idle = float(times.idle) + float(getattr(times, "iowait", 0.0))
        # Guests are already counted in user time on Linux; counting them twice inflates busy.
        total -= float(getattr(times, "guest", 0.0)) + float(getattr(times, "guest_nice", 0.0))
        net_in = net_out = 0
        for nic, counters in psutil.net_io_counters(pernic=True).items():
            if nic == "lo" or nic.startswith("lo"):
                continue
            net_in += counters.bytes_recv
            net_out += counters.bytes_sent
        return _Reading(self._clock.monotonic(), total - idle, total, net_in, net_out)


def _rates(before: _Reading, after: _Reading) -> list[tuple[str, str, float]]:
    """CPU busy share and network rates between two readings; counters that went back
    (a wrap, a removed interface) give no rate rather than a negative one."""
    out: list[tuple[str, str, float]] = []
    total = after.cpu_total - before.cpu_total
    if total > 0:
        busy = min(max((after.cpu_busy - before.cpu_busy) / total, 0.0), 1.0)
        out.append(("cpu_percent", "%", round(busy * 100.0, 2)))
    elapsed = after.at - before.at
    if elapsed > 0:
        for metric, delta in (
            ("net_in_bytes_per_s", after.net_in - before.net_in),
            ("net_out_bytes_per_s", after.net_out - before.net_out),
        ):
            if delta >= 0:
                out.append((metric, "B/s", round(delta / elapsed, 1)))
    return out
