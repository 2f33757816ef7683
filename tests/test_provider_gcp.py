"""The GCP provider against the loopback cloud simulator: zone map, page tokens, quota, CPU."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from google.oauth2.credentials import Credentials

from nephos.errors import ConfigError, ProviderError
from nephos.model import InstanceState
from nephos.providers.gcp import GcpProvider, gcp_state
from nephos.sim.clouds import CloudFleet, CloudInstance, CloudSim, Fault

if TYPE_CHECKING:
    from tests.provider_support import SkippingClock

pytest_plugins = ("tests.provider_support",)


def gcp(
    sim: CloudSim, clock: SkippingClock, *, token: str | None = None, **options: Any
) -> GcpProvider:
    """The real adapter pointed at the simulator, with an injected google-auth credential."""
    raw = {**sim.provider_options()["gcp"], **options}
    del raw["access_token"]  # authenticate through google-auth's credentials object instead
    return GcpProvider(
        GcpProvider.validate_options(raw),
        clock=clock,
        rng=random.Random(3),
        credentials=Credentials(token=token or sim.gcp_token),
    )


def add(fleet: CloudFleet, count: int, zone: str = "us-central1-a", **fields: Any) -> None:
    start = len(fleet.of("gcp"))
    for n in range(start, start + count):
        fleet.add(
            CloudInstance("gcp", str(4_000_000_000_000_000_000 + n), f"vm-{n}", zone, **fields)
        )


async def test_listing_reads_every_zone_and_skips_warning_only_zones(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 2, "us-central1-a")
    add(fleet, 1, "europe-west4-b")
    provider = gcp(sim, clock)
    instances = await provider.list_instances()
    await provider.close()
    assert [(i.name, i.zone, i.region) for i in instances] == [
        ("vm-0", "us-central1-a", "us-central1"),
        ("vm-1", "us-central1-a", "us-central1"),
        ("vm-2", "europe-west4-b", "europe-west4"),
    ]
    # the answer the adapter read held zones with nothing but a NO_RESULTS_ON_PAGE warning
    url = f"{sim.base_urls['gcp']}/compute/v1/projects/nephos-sim/aggregated/instances"
    async with httpx.AsyncClient() as client:
        answer = await client.get(url, headers={"Authorization": f"Bearer {sim.gcp_token}"})
    warned = {k for k, v in answer.json()["items"].items() if set(v) == {"warning"}}
    assert warned == {"zones/asia-east1-a", "zones/europe-west1-b"}


async def test_unreachable_zones_are_logged_and_the_rest_is_listed(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(fleet, 2)
    sim.gcp_unreachables = ("zones/us-west1-c",)
    provider = gcp(sim, clock)
    instances = await provider.list_instances()
    await provider.close()
    assert len(instances) == 2
    assert "zones/us-west1-c was unreachable" in caplog.text


async def test_missing_default_credentials_are_a_provider_error_with_a_hint(
    sim: CloudSim, clock: SkippingClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    options = GcpProvider.validate_options({"project": "p", "base_url": sim.base_urls["gcp"]})
    provider = GcpProvider(options, clock=clock)
    with pytest.raises(ProviderError, match="no application default credentials: run"):
        await provider.list_instances()
    await provider.close()
    assert sim.requests == []


async def test_listing_follows_next_page_token(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 5)
    provider = gcp(sim, clock, max_results=2)
    instances = await provider.list_instances()
    await provider.close()
    assert len(instances) == 5
    pages = [r for r in sim.requests if r.path.endswith("/aggregated/instances")]
    assert len(pages) == 3
    assert "pageToken" not in pages[0].query and all("pageToken" in p.query for p in pages[1:])
    assert pages[0].query["returnPartialSuccess"] == "true"


async def test_terminated_means_stopped_not_deleted(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1, raw={"status": "TERMINATED"})
    provider = gcp(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert (instance.state, instance.raw_state) == (InstanceState.STOPPED, "TERMINATED")


@pytest.mark.parametrize(
    ("status", "state", "substate"),
    [
        ("PENDING", InstanceState.PENDING, None),
        ("PROVISIONING", InstanceState.PENDING, None),
        ("STAGING", InstanceState.PENDING, None),
        ("RUNNING", InstanceState.RUNNING, None),
        ("STOPPING", InstanceState.STOPPING, None),
        ("PENDING_STOP", InstanceState.STOPPING, None),
        ("STOPPED", InstanceState.STOPPED, None),
        ("TERMINATED", InstanceState.STOPPED, None),
        ("SUSPENDING", InstanceState.SUSPENDED, "suspending"),
        ("SUSPENDED", InstanceState.SUSPENDED, None),
        ("REPAIRING", InstanceState.MAINTENANCE, None),
        ("DEPROVISIONING", InstanceState.TERMINATING, None),
        ("HIBERNATING", InstanceState.UNKNOWN, None),
        ("", InstanceState.UNKNOWN, None),
    ],
)
def test_gcp_status_maps_to_the_normalised_state(
    status: str, state: InstanceState, substate: str | None
) -> None:
    assert gcp_state(status) == (state, substate)


async def test_fields_are_normalised_per_the_mapping_table(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(
        fleet,
        1,
        size="n2-custom-4-16384",
        public_ip="203.0.113.7",
        private_ip="10.128.0.9",
        tags={"env": "prod", "team": "web"},
    )
    provider = gcp(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert instance.id == "4000000000000000000"
    assert (instance.account, instance.size) == ("nephos-sim", "n2-custom-4-16384")
    assert (instance.vcpus, instance.memory_mb) == (4, 16384)
    assert (instance.public_ips, instance.private_ips) == (("203.0.113.7",), ("10.128.0.9",))
    assert instance.tags == {"env": "prod", "team": "web"}
    assert instance.created_at is not None and instance.created_at.year == 2025


async def test_predefined_machine_types_are_looked_up_once_and_custom_ones_read_from_the_name(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 2, "us-east1-b", size="e2-standard-4", vcpus=4, memory_mb=16384)
    add(fleet, 1, "us-east1-b", size="custom-2-5120")
    provider = gcp(sim, clock)
    first = await provider.list_instances()
    second = await provider.list_instances()
    await provider.close()
    assert [(i.vcpus, i.memory_mb) for i in first] == [(4, 16384), (4, 16384), (2, 5120)]
    assert second == first
    lookups = [r.path for r in sim.requests if "/machineTypes/" in r.path]
    assert lookups == [
        "/compute/v1/projects/nephos-sim/zones/us-east1-b/machineTypes/e2-standard-4"
    ]


async def test_an_unknown_machine_type_leaves_the_size_empty(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(fleet, 1, size="e2-medium")
    sim.forbid("gcp", "/machineTypes/")
    provider = gcp(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert (instance.size, instance.vcpus, instance.memory_mb) == ("e2-medium", None, None)
    assert "size of machine type e2-medium unknown: gcp: 403 Forbidden" in caplog.text


async def test_a_403_rate_limit_exceeded_is_retried(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1)
    sim.rate_limit("gcp", retry_after=None, times=2)
    provider = gcp(sim, clock)
    instances = await provider.list_instances()
    await provider.close()
    assert len(instances) == 1
    pages = [r for r in sim.requests if r.path.endswith("/aggregated/instances")]
    assert [r.status for r in pages] == [403, 403, 200]
    assert len(clock.sleeps) == 2


async def test_a_403_permission_denied_is_not_retried(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    denied = {
        "error": {
            "code": 403,
            "message": "Required 'compute.instances.list' permission for 'projects/nephos-sim'",
            "errors": [{"reason": "forbidden", "domain": "global"}],
        }
    }
    sim.fail("gcp", Fault(403, body=denied))
    provider = gcp(sim, clock)
    with pytest.raises(ProviderError) as caught:
        await provider.list_instances()
    await provider.close()
    assert str(caught.value) == (
        "gcp: 403 Forbidden: check the application default credentials and their roles"
    )
    assert clock.sleeps == []


async def test_an_invalid_token_is_a_provider_error_without_the_token(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock, caplog: pytest.LogCaptureFixture
) -> None:
    provider = gcp(sim, clock, token="ya29.stale-token")
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as caught:
        await provider.list_instances()
    await provider.close()
    assert str(caught.value).startswith("gcp: 401 Unauthorized")
    assert "ya29" not in str(caught.value) and "ya29" not in caplog.text


async def test_cpu_utilisation_fraction_becomes_percent_joined_on_instance_id(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 2, metrics={"cpu_percent": lambda at: 42.5})
    provider = gcp(sim, clock)
    instances = await provider.list_instances()
    end = clock.now()
    points = await provider.fetch_metrics(instances[:1], start=end - timedelta(minutes=15), end=end)
    await provider.close()
    assert len(points) == 3  # one every 5 minutes in the window
    assert {p.instance for p in points} == {instances[0].id}  # the other VM's series is dropped
    assert all(p.value == pytest.approx(42.5) for p in points)
    assert {(p.metric, p.unit, p.provider) for p in points} == {("cpu_percent", "percent", "gcp")}
    (call,) = [r for r in sim.requests if r.path.endswith("/timeSeries")]
    assert call.query["filter"] == 'metric.type="compute.googleapis.com/instance/cpu/utilization"'
    assert call.query["interval.endTime"] == "2026-01-05T12:00:00Z"


async def test_the_access_token_option_authenticates_without_google_auth(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1)
    options = GcpProvider.validate_options(sim.provider_options()["gcp"])
    provider = GcpProvider(options, clock=clock)
    assert len(await provider.list_instances()) == 1
    await provider.close()


def test_options_reject_unknown_keys_and_bad_urls() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        GcpProvider.validate_options({"projekt": "p"})
    with pytest.raises(ConfigError, match="base_url"):
        GcpProvider.validate_options({"base_url": "ftp://x"})
    assert GcpProvider.validate_options({})["monitoring_url"] == "https://monitoring.googleapis.com"
