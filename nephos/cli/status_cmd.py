"""``nephos status``: current health by provider and target from the hot store, worst first.

Reads only: the newest result per target, the open alerts and the known instances, from which
it computes the health scores (per provider and overall, ``nephos.analytics.health``) and the
instance counts; and the ETL's lag, from the checkpoint the ETL mirrors into the hot store. It
also names the hub that ``nephos watch`` would connect to. The exit code is the worst target
health's (0, 1, 2); a store that is missing or cannot be opened exits 4 with one line on stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nephos.analytics.health import HealthCounts, HealthReport, HealthScore, health_scores
from nephos.cli.config_cmd import ConfigOption, load_cli_config
from nephos.clock import SystemClock
from nephos.config.types import Config
from nephos.errors import StoreError
from nephos.model import Alert, AlertState, CheckResult, Health, Instance, to_dict
from nephos.providers.base import ProviderStatus as PollStatus
from nephos.providers.inventory import ProviderHealth, provider_health
from nephos.sentinel.output import format_latency, one_line, state_label
from nephos.warehouse.etl_lag import EtlLag, read_lag

__all__ = ["FleetStatus", "ProviderStatus", "TargetStatus", "read_status", "register"]


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One target's newest result and its open alerts."""

    result: CheckResult
    alerts: tuple[Alert, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of one target row."""
        r = self.result
        return {
            "target": r.target,
            "kind": r.kind.value,
            "health": r.health.value,
            "sentinel_offline": r.sentinel_offline,
            "last_check": to_dict(r)["ts"],
            "latency_ms": round(r.latency_ms, 3),
            "status_code": r.status_code,
            "reason": r.reason,
            "alerts": [{"id": a.id, "state": a.state.value, "title": a.title} for a in self.alerts],
        }


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """The targets of one provider, worst first."""

    provider: str
    targets: tuple[TargetStatus, ...] = field(default_factory=tuple)

    @property
    def health(self) -> Health:
        """The worst health of its targets."""
        return Health.worst([t.result.health for t in self.targets])


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """Every provider, worst first, and the fleet's worst health."""

    providers: tuple[ProviderStatus, ...]
    hub_url: str | None = None
    """The hub ``nephos watch`` would connect to (from ``hub.listen``)."""
    instances: tuple[Instance, ...] = ()
    """Instances the providers reported."""
    scores: HealthReport | None = None
    """Health scores from 0 to 100, per provider and overall."""
    etl_lag: EtlLag | None = None
    """How far the warehouse is behind the hot store; None when no ETL ever ran on it."""
    polls: tuple[PollStatus, ...] = ()
    """Whether each provider the sentinel polls answered last time (and why not)."""

    @property
    def health(self) -> Health:
        """The worst health of the fleet's targets; healthy with no results."""
        return Health.worst([p.health for p in self.providers])

    def provider_scores(self) -> list[tuple[str, HealthScore, ProviderHealth | None]]:
        """Each provider's score and instance counts, worst score first (unscored last).

        A polled provider with nothing scored yet (unavailable from the start) is listed too.
        """
        scored = dict(self.scores.providers) if self.scores is not None else {}
        for poll in self.polls:
            scored.setdefault(poll.provider, HealthScore(None, Health.UNKNOWN, HealthCounts()))
        counts = provider_health(self.instances)
        rows = [(name, score, counts.get(name)) for name, score in scored.items()]
        rows.sort(key=lambda r: (r[1].score is None, r[1].score or 0.0, r[0]))
        return rows

    def poll_of(self, provider: str) -> PollStatus | None:
        """The last poll status of ``provider``, if the sentinel polls it."""
        return next((p for p in self.polls if p.provider == provider), None)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "health": self.health.value,
            "hub": self.hub_url,
            "targets": sum(len(p.targets) for p in self.providers),
            "instances": len(self.instances),
            "score": self.scores.overall.to_dict() if self.scores is not None else None,
            "provider_scores": [
                {
                    "provider": name,
                    **score.to_dict(),
                    "instances": _instance_counts(counts),
                    **_poll_dict(self.poll_of(name)),
                }
                for name, score, counts in self.provider_scores()
            ],
            "etl": self.etl_lag.to_dict() if self.etl_lag is not None else None,
            "providers": [
                {
                    "provider": p.provider,
                    "health": p.health.value,
                    "targets": [t.to_dict() for t in p.targets],
                }
                for p in self.providers
            ],
        }


def _instance_counts(counts: ProviderHealth | None) -> dict[str, int]:
    if counts is None:
        return {"total": 0, "healthy": 0, "degraded": 0, "unhealthy": 0, "unknown": 0}
    return {
        "total": counts.total,
        "healthy": counts.healthy,
        "degraded": counts.degraded,
        "unhealthy": counts.unhealthy,
        "unknown": counts.unknown,
    }


def _poll_dict(poll: PollStatus | None) -> dict[str, Any]:
    if poll is None:
        return {"available": None, "unavailable_reason": None}
    return {"available": poll.available, "unavailable_reason": poll.reason}


def build_status(
    results: list[CheckResult],
    alerts: list[Alert],
    *,
    instances: list[Instance] | None = None,
    hub_url: str | None = None,
    etl_lag: EtlLag | None = None,
    polls: list[PollStatus] | None = None,
) -> FleetStatus:
    """Group ``results`` by provider, attach open ``alerts`` by target, sort worst first, and
    score the fleet."""
    by_target: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_target.setdefault(alert.target, []).append(alert)
    providers: dict[str, list[TargetStatus]] = {}
    for result in results:
        row = TargetStatus(result, tuple(by_target.get(result.target, ())))
        providers.setdefault(result.provider, []).append(row)

    def worst_first(row: TargetStatus) -> tuple[int, str]:
        return (-row.result.health.rank, row.result.target)

    groups = [
        ProviderStatus(name, tuple(sorted(rows, key=worst_first)))
        for name, rows in providers.items()
    ]
    groups.sort(key=lambda p: (-p.health.rank, p.provider))
    return FleetStatus(
        tuple(groups),
        hub_url=hub_url,
        instances=tuple(instances or ()),
        scores=health_scores(results, instances or (), alerts),
        etl_lag=etl_lag,
        polls=tuple(polls or ()),
    )


async def read_status(config: Config) -> FleetStatus:
    """The fleet status from the configured hot store.

    Raises:
        StoreError: the store cannot be opened or read (exit 4).
    """
    from nephos.sentinel.instances import read_provider_statuses
    from nephos.store import open_hot_store
    from nephos.stream.hub import dial_url

    store = open_hot_store(config.storage.hot, clock=SystemClock())
    await store.open()
    try:
        results = await store.latest_results()
        alerts = await store.alerts(states=[AlertState.FIRING, AlertState.ACKNOWLEDGED])
        instances = await store.instances()
        etl_lag = await read_lag(store, SystemClock().now())
        polls = await read_provider_statuses(store)
    finally:
        await store.close()
    hub_url = dial_url(config.hub.listen)
    return build_status(
        results, alerts, instances=instances, hub_url=hub_url, etl_lag=etl_lag, polls=polls
    )


def require_store(config: Config) -> None:
    """Fail early, rather than create an empty store, when the embedded store file is missing.

    Raises:
        StoreError: the SQLite file does not exist.
    """
    hot = config.storage.hot
    if hot.backend == "sqlite" and not Path(hot.path).expanduser().exists():
        raise StoreError(
            f"no hot store at {hot.path} yet: `nephos sentinel run` creates it as it checks "
            f"your targets (or try `nephos demo --store {hot.path}` for a simulated fleet)"
        )


def render(status: FleetStatus, console: Console) -> None:
    """Print ``status`` as one table, providers as sections."""
    if not status.providers and not status.instances and not status.polls:
        console.print("no results yet: run `nephos sentinel run` first")
        return
    label = state_label(status.health)
    console.print(f"fleet [{label.style}]{label}[/{label.style}]{_score_text(status)}")
    if status.hub_url is not None:
        console.print(f"[dim]live: {escape(status.hub_url)} (nephos watch)[/dim]")
    render_scores(status, console)
    if status.etl_lag is not None:
        lag = status.etl_lag
        console.print(
            f"[dim]warehouse: {lag.events} event(s) behind ({lag.seconds:.1f} s), "
            f"checkpoint {lag.checkpoint}[/dim]"
        )
    if not status.providers:
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("provider", "state", "target", "last check", "latency", "alerts"):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column("reason", min_width=24, overflow="fold")
    for provider in status.providers:
        for row in provider.targets:
            r = row.result
            state = state_label(r.health, offline=r.sentinel_offline)
            alerts = ", ".join(a.id for a in row.alerts)
            table.add_row(
                escape(provider.provider),
                f"[{state.style}]{state}[/{state.style}]",
                escape(r.target),
                r.ts.strftime("%Y-%m-%d %H:%M:%S"),
                format_latency(r.latency_ms),
                escape(alerts),
                escape(one_line(r.reason, 80)),
            )
    console.print(table)


def _score_text(status: FleetStatus) -> str:
    overall = status.scores.overall if status.scores is not None else None
    if overall is None or overall.score is None:
        return ""
    return f"  score {overall.score:.0f}/100"


def render_scores(status: FleetStatus, console: Console) -> None:
    """One line per provider: its score, its instances and its firing alerts, worst first."""
    rows = status.provider_scores()
    if not rows:
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("provider", "score", "state", "instances", "firing alerts"):
        table.add_column(column, no_wrap=True)
    table.add_column("polled", overflow="fold")
    for name, score, counts in rows:
        label = state_label(score.health)
        c = score.counts
        firing = c.alerts_critical + c.alerts_warning + c.alerts_info
        instances = "-"
        if counts is not None and counts.total:
            parts = [
                f"{n} {word}"
                for n, word in (
                    (counts.healthy, "ok"),
                    (counts.degraded, "degraded"),
                    (counts.unhealthy, "down"),
                    (counts.unknown, "unknown"),
                )
                if n
            ]
            instances = f"{counts.total}: {', '.join(parts)}"
        table.add_row(
            escape(name),
            "-" if score.score is None else f"{score.score:.0f}",
            f"[{label.style}]{label}[/{label.style}]",
            instances,
            str(firing),
            _poll_text(status.poll_of(name)),
        )
    console.print(table)


def _poll_text(poll: PollStatus | None) -> str:
    if poll is None:
        return "-"
    if poll.available:
        return "ok"
    return escape(one_line(f"unavailable: {poll.reason or 'no answer'}", 80))


def register(app: typer.Typer) -> None:
    """Add ``nephos status`` to ``app``."""

    @app.command("status")
    def status(
        config: ConfigOption = None,
        json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> int:
        """Current health by provider and target, worst first; exit code by the worst."""
        cfg = load_cli_config(config)
        require_store(cfg)
        fleet = asyncio.run(read_status(cfg))
        if json_out:
            sys.stdout.write(json.dumps(fleet.to_dict(), indent=2) + "\n")
        else:
            console = Console(highlight=False)
            if not console.is_terminal:
                # Pipes and files get whole rows rather than an 80-column wrap.
                console = Console(highlight=False, width=160)
            render(fleet, console)
        return fleet.health.exit_code
