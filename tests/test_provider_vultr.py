"""The Vultr provider against the loopback cloud simulator: pages, retries, states, bandwidth."""

from __future__ import annotations

import itertools
import json
import logging
import pathlib
import random
from datetime import timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import pytest

from nephos.errors import ConfigError, ProviderError
from nephos.model import InstanceState
from nephos.providers.vultr import VultrProvider, vultr_state
from nephos.sim.clouds import CloudFleet, CloudInstance, CloudSim, Fault
from nephos.sim.http_server import HttpSim, Respond

if TYPE_CHECKING:
    from tests.provider_support import SkippingClock

pytest_plugins = ("tests.provider_support",)

SPEC = pathlib.Path(__file__).parent / "data" / "vultr-openapi.json"


def vultr(sim: CloudSim, clock: SkippingClock, **options: Any) -> VultrProvider:
    raw = {**sim.provider_options()["vultr"], **options}
    return VultrProvider(VultrProvider.validate_options(raw), clock=clock, rng=random.Random(7))


def add(fleet: CloudFleet, count: int, **fields: Any) -> list[CloudInstance]:
    made = []
    for n in range(count):
        instance = CloudInstance(
            provider="vultr",
            id=f"cb676a46-0000-4000-8000-{n:012d}",
            name=f"web-{n}",
            region="ewr",
            public_ip=f"192.0.2.{n + 10}",
            **fields,
        )
        fleet.add(instance)
        made.append(instance)
    return made


async def test_listing_follows_cursors_until_next_is_empty(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 7)
    provider = vultr(sim, clock, per_page=3)
    instances = await provider.list_instances()
    await provider.close()
    assert [i.name for i in instances] == [f"web-{n}" for n in range(7)]
    pages = [r for r in sim.requests if r.path == "/v2/instances"]
    assert len(pages) == 3
    assert "cursor" not in pages[0].query
    assert all(r.query["per_page"] == "3" for r in pages)


async def test_a_repeating_cursor_stops_the_listing_with_a_warning(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(fleet, 3)
    sim.vultr_cursor_loop = True  # Prism's trap: the same next cursor on every page
    provider = vultr(sim, clock, per_page=1)
    with caplog.at_level(logging.WARNING, logger="nephos.providers.vultr"):
        instances = await provider.list_instances()
    await provider.close()
    assert len([r for r in sim.requests if r.path == "/v2/instances"]) == 2
    assert len(instances) == 2
    assert "repeated a page cursor" in caplog.text


async def test_a_bad_key_is_a_provider_error_that_names_the_variable_not_the_key(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock, caplog: pytest.LogCaptureFixture
) -> None:
    add(fleet, 1)
    provider = vultr(sim, clock, api_key="not-the-key-xyz")
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as caught:
        await provider.list_instances()
    await provider.close()
    assert str(caught.value) == "vultr: 401 Unauthorized: check VULTR_API_KEY"
    assert "not-the-key-xyz" not in caplog.text
    assert clock.sleeps == []  # a refused key is not retried


async def test_a_429_waits_for_retry_after_seconds_then_succeeds(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 2)
    sim.rate_limit("vultr", retry_after="3")
    provider = vultr(sim, clock)
    instances = await provider.list_instances()
    await provider.close()
    assert len(instances) == 2
    assert clock.sleeps == [3.0]
    assert [(r.status, r.at) for r in sim.requests] == [(429, 0.0), (200, 3.0)]


async def test_a_retry_after_http_date_is_read_against_the_clock(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1)
    when = format_datetime(clock.now() + timedelta(seconds=7), usegmt=True)
    sim.rate_limit("vultr", retry_after=when)
    provider = vultr(sim, clock)
    await provider.list_instances()
    await provider.close()
    assert clock.sleeps == [7.0]


async def test_without_retry_after_the_waits_back_off_with_full_jitter(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1)
    sim.rate_limit("vultr", retry_after=None, times=3)
    provider = vultr(sim, clock)
    await provider.list_instances()
    await provider.close()
    assert len(clock.sleeps) == 3
    for n, wait in enumerate(clock.sleeps):
        assert 0.0 <= wait < 0.5 * 2**n


async def test_server_errors_are_retried_up_to_max_attempts_then_reported(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1)
    sim.fail("vultr", Fault(503, body={"error": "maintenance", "status": 503}), times=5)
    provider = vultr(sim, clock, max_attempts=3)
    with pytest.raises(ProviderError) as caught:
        await provider.list_instances()
    await provider.close()
    assert len(clock.sleeps) == 2
    assert str(caught.value) == (
        "vultr: 503 Service Unavailable after 3 attempts (GET /v2/instances): maintenance"
    )


async def test_a_retry_after_longer_than_the_cap_fails_instead_of_waiting(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1)
    sim.rate_limit("vultr", retry_after="3600")
    provider = vultr(sim, clock)
    with pytest.raises(ProviderError, match="asked to wait 3600 s"):
        await provider.list_instances()
    await provider.close()
    assert clock.sleeps == []


async def test_an_unreachable_api_is_a_provider_error(clock: SkippingClock) -> None:
    async with HttpSim() as closed:
        url = closed.base_url  # the port is free again once the server stops
    provider = VultrProvider({"api_key": "k", "base_url": url, "max_attempts": 2}, clock=clock)
    with pytest.raises(ProviderError, match=r"^vultr: cannot connect \(GET /v2/instances\)$"):
        await provider.list_instances()
    await provider.close()


async def test_main_ip_0000_means_no_public_ip(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 1, state=InstanceState.PENDING)
    provider = vultr(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert instance.public_ips == ()
    assert instance.state is InstanceState.PENDING


async def test_fields_are_normalised_per_the_mapping_table(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(
        fleet,
        1,
        size="vc2-1c-2gb",
        vcpus=1,
        memory_mb=2048,
        private_ip="10.1.96.3",
        tags={"web": "", "prod": ""},
    )
    provider = vultr(sim, clock)
    (instance,) = await provider.list_instances()
    await provider.close()
    assert instance.provider == "vultr"
    assert instance.id == "cb676a46-0000-4000-8000-000000000000"
    assert instance.name == "web-0"
    assert (instance.region, instance.zone) == ("ewr", None)
    assert (instance.size, instance.vcpus, instance.memory_mb) == ("vc2-1c-2gb", 1, 2048)
    assert instance.public_ips == ("192.0.2.10",)
    assert instance.private_ips == ("10.1.96.3",)
    assert instance.tags == {"web": "", "prod": ""}
    assert instance.created_at is not None and instance.created_at.year == 2025
    assert (instance.raw_state, instance.health_signal) == ("active/running/ok", "ok")
    assert instance.updated_at == clock.now()


STATES = [
    ("pending", "stopped", "none", InstanceState.PENDING, None),
    ("pending", "running", "installingbooting", InstanceState.PENDING, None),
    ("suspended", "running", "ok", InstanceState.SUSPENDED, "billing_suspended"),
    ("resizing", "running", "ok", InstanceState.MAINTENANCE, "resizing"),
    ("active", "running", "ok", InstanceState.RUNNING, None),
    ("active", "running", "none", InstanceState.RUNNING, None),
    ("active", "running", "installingbooting", InstanceState.PENDING, "installingbooting"),
    ("active", "running", "locked", InstanceState.MAINTENANCE, "locked"),
    ("active", "stopped", "ok", InstanceState.STOPPED, None),
    ("active", "stopped", "locked", InstanceState.STOPPED, None),  # power_status before server
    ("active", "running", "rebooting", InstanceState.UNKNOWN, None),
    ("active", "hibernating", "ok", InstanceState.UNKNOWN, None),
    ("closed", "running", "ok", InstanceState.UNKNOWN, None),
    ("", "", "", InstanceState.UNKNOWN, None),
]


async def test_every_state_combination_maps_through_the_api(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    for n, (status, power, server, _, _) in enumerate(STATES):
        fleet.add(
            CloudInstance(
                "vultr",
                f"id-{n}",
                f"vm-{n}",
                "ewr",
                raw={"status": status, "power_status": power, "server_status": server},
            )
        )
    provider = vultr(sim, clock)
    instances = await provider.list_instances()
    await provider.close()
    got = [(i.state, i.substate) for i in instances]
    assert got == [(state, sub) for *_, state, sub in STATES]
    assert [i.raw_state for i in instances][:2] == [
        "pending/stopped/none",
        "pending/running/installingbooting",
    ]


@pytest.mark.parametrize(("status", "power", "server", "state", "substate"), STATES)
def test_vultr_state_follows_status_then_power_then_server(
    status: str, power: str, server: str, state: InstanceState, substate: str | None
) -> None:
    assert vultr_state(status, power, server) == (state, substate)


async def test_bandwidth_becomes_daily_in_and_out_points_inside_the_window(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    (machine,) = add(
        fleet,
        1,
        metrics={
            "bandwidth_in_bytes": lambda at: float(at.day * 1000),
            "bandwidth_out_bytes": lambda at: float(at.day * 10),
        },
    )
    provider = vultr(sim, clock)
    instances = await provider.list_instances()
    end = clock.now()
    points = await provider.fetch_metrics(instances, start=end - timedelta(days=2), end=end)
    await provider.close()
    days = sorted({p.ts for p in points})
    assert [d.day for d in days] == [3, 4, 5]  # the clock starts on 2026-01-05 12:00 UTC
    inbound = {p.ts.day: p.value for p in points if p.metric == "bandwidth_in_bytes"}
    assert inbound == {3: 3000.0, 4: 4000.0, 5: 5000.0}
    assert {(p.unit, p.provider, p.instance) for p in points} == {("bytes", "vultr", machine.id)}
    (call,) = [r for r in sim.requests if r.path.endswith("/bandwidth")]
    assert call.query == {"date_range": "3"}


async def test_an_instance_deleted_after_listing_has_no_bandwidth_and_others_still_do(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    kept, gone = add(fleet, 2, metrics={"bandwidth_in_bytes": lambda at: 5.0})
    provider = vultr(sim, clock)
    instances = await provider.list_instances()
    fleet.remove("vultr", gone.id)
    points = await provider.fetch_metrics(instances, start=clock.now(), end=clock.now())
    await provider.close()
    assert {p.instance for p in points} == {kept.id}


async def test_requests_stay_under_the_client_side_rate(
    sim: CloudSim, fleet: CloudFleet, clock: SkippingClock
) -> None:
    add(fleet, 30)
    # one call at a time, so that the server stamps each request before the next one waits
    provider = vultr(sim, clock, requests_per_second=10, bandwidth_concurrency=1)
    instances = await provider.list_instances()
    end = clock.now()
    await provider.fetch_metrics(instances, start=end, end=end)
    await provider.close()
    times = [r.at for r in sim.requests]
    assert len(times) == 31
    assert times[:10] == [0.0] * 10  # a burst of up to ten goes at once
    gaps = [b - a for a, b in itertools.pairwise(times[9:])]
    assert gaps == pytest.approx([0.1] * 21)  # then one every 0.1 s
    assert clock.monotonic() == pytest.approx(2.1)


async def test_the_adapter_reads_vultrs_own_published_example(clock: SkippingClock) -> None:
    spec = json.loads(SPEC.read_text())
    ok = spec["paths"]["/instances"]["get"]["responses"]["200"]["content"]["application/json"]
    example = ok["examples"]["instance"]["value"]
    example["meta"]["links"]["next"] = ""
    async with HttpSim() as server:
        server.add_route("/v2/instances", Respond(json=example))
        provider = VultrProvider({"api_key": "k", "base_url": server.base_url}, clock=clock)
        (instance,) = await provider.list_instances()
        await provider.close()
    assert (instance.name, instance.state, instance.size) == (
        "Example Instance",
        InstanceState.RUNNING,
        "vc2-6c-16gb",
    )
    assert instance.tags == {"a tag": "", "another": ""}
    assert instance.private_ips == ()  # internal_ip "" is no address


def test_options_need_an_api_key_and_never_echo_it() -> None:
    with pytest.raises(ConfigError, match="missing required key api_key"):
        VultrProvider.validate_options({})
    with pytest.raises(ConfigError) as caught:
        VultrProvider.validate_options({"api_key": ["s3cret-list"]})
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError, match="per_page: must be at most 500"):
        VultrProvider.validate_options({"api_key": "k", "per_page": 501})
    cleaned = VultrProvider.validate_options({"api_key": "k"})
    assert cleaned["base_url"] == "https://api.vultr.com"
    assert (cleaned["per_page"], cleaned["timeout"]) == (500, timedelta(seconds=30))
