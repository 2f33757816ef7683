"""Collecting the inventory: providers polled together, failures isolated, health tallied."""

from __future__ import annotations

import asyncio
import pathlib
from datetime import UTC, datetime

import pytest

from nephos.clock import ManualClock
from nephos.errors import ProviderError
from nephos.model import Health, Instance, InstanceState
from nephos.providers.aws import AwsProvider
from nephos.providers.base import Provider
from nephos.providers.inventory import (
    ProviderHealth,
    collect_inventory,
    instance_health,
    provider_health,
)
from nephos.providers.static import StaticProvider

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def machine(
    state: InstanceState, signal: str | None = None, *, provider: str = "aws", name: str = "m"
) -> Instance:
    return Instance(provider=provider, id=name, name=name, state=state, health_signal=signal)


class NeverAnswers(Provider):
    """A provider whose API hangs: it must cost its own status only, not the inventory."""

    name = "vultr"

    async def list_instances(self) -> list[Instance]:
        await asyncio.Event().wait()
        return []


class Crashes(Provider):
    """A provider with a bug: an exception that is not a NephosError."""

    name = "gcp"

    async def list_instances(self) -> list[Instance]:
        raise KeyError("items")


class Refused(Provider):
    """A provider whose API refuses the credentials."""

    name = "azure"

    async def list_instances(self) -> list[Instance]:
        raise ProviderError("azure: the token was refused (HTTP 401)")


def static_provider(clock: ManualClock) -> StaticProvider:
    options = StaticProvider.validate_options(
        {"instances": [{"name": "nas"}, {"name": "pi", "state": "stopped"}]}
    )
    return StaticProvider(options, clock=clock)


# --------------------------------------------------------------------------- health


@pytest.mark.parametrize(
    ("state", "signal", "health"),
    [
        (InstanceState.RUNNING, None, Health.HEALTHY),
        (InstanceState.RUNNING, "ok", Health.HEALTHY),
        (InstanceState.RUNNING, "impaired", Health.UNHEALTHY),
        (InstanceState.RUNNING, "initializing", Health.DEGRADED),
        (InstanceState.RUNNING, "insufficient-data", Health.DEGRADED),
        (InstanceState.PENDING, None, Health.DEGRADED),
        (InstanceState.MAINTENANCE, None, Health.DEGRADED),
        (InstanceState.STOPPING, None, Health.UNHEALTHY),
        (InstanceState.STOPPED, None, Health.UNHEALTHY),
        (InstanceState.SUSPENDED, None, Health.UNHEALTHY),
        (InstanceState.ERROR, None, Health.UNHEALTHY),
        (InstanceState.UNKNOWN, None, Health.UNKNOWN),
        (InstanceState.TERMINATING, None, None),
        (InstanceState.TERMINATED, None, None),
    ],
)
def test_each_instance_state_counts_as_one_health(
    state: InstanceState, signal: str | None, health: Health | None
) -> None:
    assert instance_health(machine(state, signal)) == health


def test_provider_health_tallies_per_provider_and_terminated_instances_leave_the_totals() -> None:
    instances = [
        machine(InstanceState.RUNNING, "ok"),
        machine(InstanceState.RUNNING, "impaired"),
        machine(InstanceState.PENDING),
        machine(InstanceState.TERMINATED),
        machine(InstanceState.RUNNING, provider="static"),
        machine(InstanceState.TERMINATED, provider="vultr"),
    ]

    tallies = provider_health(instances)

    assert list(tallies) == ["aws", "static", "vultr"]
    aws = tallies["aws"]
    assert (aws.healthy, aws.degraded, aws.unhealthy, aws.total) == (1, 1, 1, 3)
    assert aws.percent == pytest.approx(100 / 3)
    assert aws.health is Health.UNHEALTHY
    assert (tallies["static"].percent, tallies["static"].health) == (100.0, Health.HEALTHY)
    assert (tallies["vultr"].total, tallies["vultr"].percent) == (0, None)


def test_an_empty_tally_is_healthy_with_no_percentage() -> None:
    empty = ProviderHealth("aws")
    assert (empty.total, empty.percent, empty.health) == (0, None, Health.HEALTHY)


# --------------------------------------------------------------------------- collecting


async def test_a_provider_without_credentials_is_unavailable_while_static_carries_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    clock = ManualClock(NOW)
    aws = AwsProvider(
        AwsProvider.validate_options({"regions": ["us-east-1"], "max_attempts": 1}), clock=clock
    )

    inventory = await collect_inventory([aws, static_provider(clock)], clock=clock, timeout=30)

    assert [i.name for i in inventory.instances] == ["nas", "pi"]
    down, up = inventory.statuses
    assert (down.provider, down.available, down.instances) == ("aws", False, 0)
    assert down.reason == (
        "aws us-east-1: no credentials found (configure a profile, environment variables or SSO)"
    )
    assert (up.provider, up.available, up.instances, up.reason) == ("static", True, 2, None)
    assert {s.checked_at for s in inventory.statuses} == {NOW} and inventory.collected_at == NOW
    assert not inventory.all_unavailable


async def test_hanging_crashing_and_refusing_providers_each_get_a_reason() -> None:
    clock = ManualClock(NOW)
    providers = [
        NeverAnswers({}, clock=clock),
        Crashes({}, clock=clock),
        Refused({}, clock=clock),
        static_provider(clock),
    ]

    inventory = await collect_inventory(providers, clock=clock, timeout=0.05)

    reasons = {s.provider: s.reason for s in inventory.statuses}
    assert reasons == {
        "vultr": "vultr: no answer within 0.05s",
        "gcp": "gcp: unexpected error (KeyError)",
        "azure": "azure: the token was refused (HTTP 401)",
        "static": None,
    }
    assert len(inventory.instances) == 2


async def test_every_provider_failing_is_reported_as_all_unavailable() -> None:
    clock = ManualClock(NOW)
    inventory = await collect_inventory(
        [Crashes({}, clock=clock), Refused({}, clock=clock)], clock=clock, timeout=1
    )
    assert inventory.all_unavailable and inventory.instances == ()


async def test_no_providers_is_an_empty_inventory_that_is_not_all_unavailable() -> None:
    inventory = await collect_inventory([], clock=ManualClock(NOW), timeout=1)
    assert (inventory.instances, inventory.statuses, inventory.all_unavailable) == ((), (), False)
