"""The agent's loop: sample on a fixed cadence, buffer, send; and where it sends by default."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nephos.agent.host import HostSampler
from nephos.agent.pusher import MetricPusher
from nephos.clock import Clock, SystemClock
from nephos.config.types import HubConfig

__all__ = ["default_ingest_url", "run_agent"]

log = logging.getLogger(__name__)


def default_ingest_url(hub_config: HubConfig) -> str:
    """The ``POST /ingest`` URL of the hub that ``hub_config`` describes, from this machine.

    Raises:
        ConfigError: the hub's addresses do not parse, or ingest is switched off.
    """
    from nephos.errors import ConfigError
    from nephos.stream.auth import parse_listen
    from nephos.stream.ingest_server import INGEST_PATH, ingest_listen

    listen = ingest_listen(hub_config)
    if listen is None:
        raise ConfigError("ingest is switched off (hub.ingest_listen: false); pass --url")
    host, port = parse_listen(listen)
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - a wildcard is dialled on this machine
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{INGEST_PATH}"


async def run_agent(
    sampler: HostSampler,
    pusher: MetricPusher,
    *,
    interval: float,
    stop: asyncio.Event,
    clock: Clock | None = None,
    once: bool = False,
) -> bool:
    """Sample every ``interval`` seconds, buffer and send, until ``stop`` is set.

    With ``once``: prime, wait one second (so that CPU and network rates exist), take one
    sample, send what is buffered, and return.

    Returns True when nothing is left in the buffer at the end.

    Raises:
        StoreUnavailable: the buffer cannot be written.
    """
    clock = clock or SystemClock()
    sampler.prime()
    if once:
        await _wait(clock, 1.0, stop)
        await pusher.enqueue(sampler.sample())
        return await pusher.drain()
    await pusher.drain()  # what an earlier run left behind goes first
    next_at = clock.monotonic()
    while not stop.is_set():
        # A fixed cadence: a slow send delays the next sample, never shifts the whole series.
        next_at += interval
        if not await _wait(clock, max(0.0, next_at - clock.monotonic()), stop):
            break
        await pusher.enqueue(sampler.sample())  # a full buffer drops this sample, logged
        await pusher.drain()
        if next_at < clock.monotonic():
            next_at = clock.monotonic()  # fell behind (a long send): do not burst to catch up
    return pusher.pending == 0


async def _wait(clock: Clock, seconds: float, stop: asyncio.Event) -> bool:
    """Sleep ``seconds`` on the clock; False when ``stop`` was set first."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return not stop.is_set()
