"""The Azure provider against the loopback cloud simulator: merge, nextLink, states, metrics."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from azure.core.credentials import AccessToken
from azure.identity import CredentialUnavailableError

from nephos.errors import ConfigError, ProviderError
from nephos.model import InstanceState
from nephos.providers.azure import AzureProvider, azure_state
from nephos.sim.clouds import CloudFleet, CloudInstance, CloudSim
from nephos.sim.http_server import HttpSim, Respond

if TYPE_CHECKING:
    from tests.provider_support import SkippingClock

pytest_plugins = ("tests.provider_support",)


class StaticCredential:
    """A credential in azure-identity's shape: ``get_token(scope)`` -> ``AccessToken``."""

    def __init__(self, token: str, expires_on: int) -> None:
        self.token, self.expires_on = token, expires_on
        self.scopes: list[str] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(self.token, self.expires_on)


def azure(
    sim: CloudSim, clock: SkippingClock, credential: StaticCredential | None = None, **options: Any
) -> AzureProvider:
    raw = {**sim.provider_options()["azure"], **options}
    del raw["access_token"]  # authenticate through the credential object instead
    expires = int(clock.now().timestamp()) + 3600
    return AzureProvider(
        AzureProvider.validate_options(raw),
        clock=clock,
        rng=random.Random(5),
        credential=credential or StaticCredential(sim.azure_token, expires),
    )


def add(fleet: CloudFleet, name: str, **fields: Any) -> CloudInstance:
    instance = CloudInstance("azure", f"vmid-{name}", name, "westeurope", **fields)
    fleet.add(instance)
    return instance


async def test_the_vm_list_and_the_status_list_merge_despite_id_casing(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    web = add(fleet, "web-1", size="Standard_B2s", tags={"env": "prod"}, raw={"zone": "2"})
    provider = azure(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert sim.azure_id(web) != sim.azure_id(web, status_case=True)  # the two calls disagree
    assert instance.id == sim.azure_id(web)
    assert (instance.state, instance.raw_state) == (
        InstanceState.RUNNING,
        "PowerState/running,ProvisioningState/succeeded",
    )
    assert (instance.name, instance.region, instance.zone) == ("web-1", "westeurope", "2")
    assert (instance.size, instance.tags) == ("Standard_B2s", {"env": "prod"})
    assert instance.account == sim.azure_subscription
    statuses = [r for r in sim.requests if r.query.get("statusOnly") == "true"]
    assert len(statuses) == 1


async def test_next_links_are_followed_for_both_calls(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    for n in range(5):
        add(fleet, f"vm-{n}")
    sim.azure_page_size = 2
    provider = azure(sim, clock)
    instances = await provider.list_instances()
    await provider.close()
    assert [i.name for i in instances] == [f"vm-{n}" for n in range(5)]
    assert all(i.state is InstanceState.RUNNING for i in instances)
    vm_lists = [r for r in sim.requests if r.path.endswith("/virtualMachines")]
    assert len(vm_lists) == 6  # three pages of models, three pages of statuses
    assert sum("$skiptoken" in r.query for r in vm_lists) == 4


async def test_addresses_come_from_nics_and_public_ips_and_sizes_from_vm_sizes(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "web", public_ip="20.1.2.3", private_ip="10.0.0.5", size="Standard_D4s_v5")
    fleet.get("azure", "vmid-web").vcpus, fleet.get("azure", "vmid-web").memory_mb = 4, 16384
    add(fleet, "db", private_ip="10.0.0.6", size="Standard_D4s_v5", vcpus=4, memory_mb=16384)
    sim.azure_page_size = 1  # the NIC and public IP lists page too
    provider = azure(sim, clock)
    web, db = await provider.list_instances()
    await provider.list_instances()
    await provider.close()
    assert (web.public_ips, web.private_ips) == (("20.1.2.3",), ("10.0.0.5",))
    assert (db.public_ips, db.private_ips) == ((), ("10.0.0.6",))
    assert (web.vcpus, web.memory_mb) == (4, 16384)
    sizes = [r for r in sim.requests if r.path.endswith("/vmSizes")]
    assert [r.path.split("/")[-2] for r in sizes] == ["westeurope"]  # cached after the first poll


async def test_without_network_access_instances_are_listed_without_addresses(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(fleet, "web", public_ip="20.1.2.3")
    sim.forbid("azure", "Microsoft.Network")  # a role that may read compute only
    provider = azure(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert instance.state is InstanceState.RUNNING
    assert instance.public_ips == ()
    assert "instances listed without addresses" in caplog.text


async def test_deallocated_and_stopped_are_both_stopped_with_different_substates(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "billed", raw={"power": "stopped"})
    add(fleet, "free", raw={"power": "deallocated"})
    provider = azure(sim, clock)
    billed, free = await provider.list_instances()
    await provider.close()
    assert (billed.state, billed.substate) == (InstanceState.STOPPED, "stopped")
    assert (free.state, free.substate) == (InstanceState.STOPPED, "deallocated")


async def test_a_missing_power_state_or_instance_view_is_unknown(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "no-power", raw={"power": "", "provisioning": "succeeded"})
    add(fleet, "no-view", raw={"view": "none"})
    provider = azure(sim, clock)
    instances = await provider.list_instances()
    await provider.close()
    assert [i.state for i in instances] == [InstanceState.UNKNOWN, InstanceState.UNKNOWN]
    assert instances[1].raw_state == "ProvisioningState/Succeeded"  # from the model alone


async def test_a_failed_provisioning_is_an_error_even_when_running(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "broken", raw={"power": "running", "provisioning": "failed/OSProvisioningTimedOut"})
    provider = azure(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert (instance.state, instance.substate) == (InstanceState.ERROR, "osprovisioningtimedout")


@pytest.mark.parametrize(
    ("power", "provisioning", "state", "substate"),
    [
        ("starting", "succeeded", InstanceState.PENDING, None),
        ("running", "succeeded", InstanceState.RUNNING, None),
        ("stopping", "succeeded", InstanceState.STOPPING, None),
        ("deallocating", "succeeded", InstanceState.STOPPING, "deallocating"),
        ("stopped", "succeeded", InstanceState.STOPPED, "stopped"),
        ("deallocated", "succeeded", InstanceState.STOPPED, "deallocated"),
        ("unknown", "succeeded", InstanceState.UNKNOWN, None),
        ("running", "updating", InstanceState.RUNNING, None),  # PowerState wins
        (None, "creating", InstanceState.PENDING, None),
        (None, "updating", InstanceState.MAINTENANCE, "updating"),
        (None, "deleting", InstanceState.TERMINATING, None),
        (None, "succeeded", InstanceState.UNKNOWN, None),
        ("deallocated", "failed", InstanceState.ERROR, None),
        (None, None, InstanceState.UNKNOWN, None),
    ],
)
def test_power_state_wins_and_failed_provisioning_is_error(
    power: str | None, provisioning: str | None, state: InstanceState, substate: str | None
) -> None:
    assert azure_state(power, provisioning) == (state, substate)


async def test_a_429_waits_for_retry_after(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "web")
    sim.rate_limit("azure", retry_after="17")
    provider = azure(sim, clock)
    assert len(await provider.list_instances()) == 1
    await provider.close()
    assert clock.sleeps == [17.0]


async def test_cpu_and_memory_come_from_azure_monitor(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "web", metrics={"cpu_percent": lambda at: 37.0, "mem_percent": lambda at: 61.5})
    add(fleet, "off", state=InstanceState.STOPPED)
    provider = azure(sim, clock)
    instances = await provider.list_instances()
    end = clock.now()
    points = await provider.fetch_metrics(instances, start=end - timedelta(minutes=10), end=end)
    await provider.close()
    web, off = instances
    assert {(p.metric, p.value) for p in points if p.instance == web.id} == {
        ("cpu_percent", 37.0),
        ("mem_percent", 61.5),  # 100 - Available Memory Percentage
    }
    assert len([p for p in points if p.instance == web.id]) == 4  # two 5-minute intervals each
    assert not [p for p in points if p.instance == off.id]  # timestamps without averages
    (call, _) = [r for r in sim.requests if r.path.endswith("/metrics")]
    assert call.query["metricnames"] == "Percentage CPU,Available Memory Percentage"
    assert call.query["timespan"] == "2026-01-05T11:50:00Z/2026-01-05T12:00:00Z"


async def test_a_vm_deleted_after_listing_has_no_metrics_and_others_still_do(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "kept", metrics={"cpu_percent": lambda at: 10.0})
    add(fleet, "gone")
    provider = azure(sim, clock)
    kept, gone = await provider.list_instances()
    fleet.remove("azure", "vmid-gone")
    end = clock.now()
    points = await provider.fetch_metrics([kept, gone], start=end - timedelta(minutes=5), end=end)
    await provider.close()
    assert {p.instance for p in points} == {kept.id}


async def test_the_token_is_fetched_again_shortly_before_it_expires(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, "web")
    credential = StaticCredential(sim.azure_token, int(clock.now().timestamp()) + 600)
    provider = azure(sim, clock, credential)
    await provider.list_instances()
    assert len(credential.scopes) == 1
    clock.advance(200)  # 400 s left: still good
    await provider.list_instances()
    assert len(credential.scopes) == 1
    clock.advance(150)  # 250 s left: inside the 5-minute margin
    credential.expires_on += 3600  # what the identity service hands out next
    await provider.list_instances()
    await provider.close()
    assert credential.scopes == ["https://management.azure.com/.default"] * 2


async def test_a_credential_that_cannot_sign_in_is_a_provider_error_with_a_hint(
    sim: CloudSim, clock: SkippingClock
) -> None:
    class NoCredential:
        def get_token(self, *scopes: str) -> AccessToken:
            raise CredentialUnavailableError("EnvironmentCredential: incomplete configuration")

    options = AzureProvider.validate_options(
        {"subscription_id": "s", "base_url": sim.base_urls["azure"]}
    )
    provider = AzureProvider(options, clock=clock, credential=NoCredential())
    with pytest.raises(ProviderError, match="azure: no usable credentials: run `az login`"):
        await provider.list_instances()
    await provider.close()
    assert sim.requests == []


async def test_a_next_link_to_another_host_is_refused(clock: SkippingClock) -> None:
    page = {"value": [], "nextLink": "https://elsewhere.example/subscriptions/s/next"}
    async with HttpSim() as server:
        server.add_route(
            "/subscriptions/s/providers/Microsoft.Compute/virtualMachines", Respond(json=page)
        )
        provider = AzureProvider(
            {"subscription_id": "s", "base_url": server.base_url, "access_token": "t"}, clock=clock
        )
        with pytest.raises(ProviderError, match="nextLink pointed outside"):
            await provider.list_instances()
        await provider.close()


def test_options_need_a_subscription() -> None:
    with pytest.raises(ConfigError, match="missing required key subscription_id"):
        AzureProvider.validate_options({})
    cleaned = AzureProvider.validate_options({"subscription_id": "s"})
    assert (cleaned["api_version"], cleaned["metrics_concurrency"]) == ("2024-07-01", 8)
