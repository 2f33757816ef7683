"""The EC2 and CloudWatch simulator, read by the real AWS provider (boto3) over loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import boto3
import pytest
from botocore.exceptions import ClientError

from nephos.clock import ManualClock
from nephos.model import Instance, InstanceState
from nephos.providers.aws import AwsProvider
from nephos.sim.cloud_fleet import CloudFleet, CloudInstance
from nephos.sim.ec2 import Ec2Sim
from nephos.sim.ec2_cbor import decode, encode

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LAUNCHED = datetime(2025, 6, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """Fake keys and empty config files, never the machine's own."""
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "empty"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sim")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sim-secret")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


def aws_instance(n: int, region: str, **changes: Any) -> CloudInstance:
    fields: dict[str, Any] = {
        "provider": "aws",
        "id": f"i-{n:017x}",
        "name": f"node-{n}",
        "region": region,
        "size": "t3.small" if n % 2 else "m5.large",
        "vcpus": 2,
        "memory_mb": 2048 if n % 2 else 8192,
        "public_ip": f"198.51.100.{n + 1}",
        "private_ip": f"10.0.0.{n + 1}",
        "tags": {"Name": f"node-{n}", "team": "web"},
        "created_at": LAUNCHED,
        "metrics": {"cpu_percent": lambda at, n=n: float(n), "mem_percent": lambda at: 40.0},
    }
    fields.update(changes)
    return CloudInstance(**fields)


@pytest.fixture
def fleet() -> CloudFleet:
    return CloudFleet(
        [aws_instance(n, "us-east-1") for n in range(12)]
        + [aws_instance(n, "eu-west-1b") for n in range(12, 19)]
        + [CloudInstance("vultr", "v-1", "not-aws", "ewr")]
    )


@pytest.fixture
async def sim(fleet: CloudFleet) -> AsyncIterator[Ec2Sim]:
    async with Ec2Sim(fleet, clock=ManualClock(NOW)) as server:
        yield server


def provider(sim: Ec2Sim, **options: Any) -> AwsProvider:
    raw = {**sim.provider_options(), **options}
    return AwsProvider(AwsProvider.validate_options(raw), clock=ManualClock(NOW))


async def listed(sim: Ec2Sim, **options: Any) -> dict[str, Instance]:
    aws = provider(sim, **options)
    try:
        return {i.id: i for i in await aws.list_instances()}
    finally:
        await aws.close()


async def test_the_provider_lists_every_region_in_pages_with_the_fields_it_reads(
    sim: Ec2Sim,
) -> None:
    found = await listed(sim, page_size=5)
    assert len(found) == 19  # the Vultr instance is not EC2's
    assert sim.calls["DescribeInstances"] == 3 + 2  # 12 in pages of 5, then 7
    assert sim.calls["DescribeInstanceStatus"] == 3 + 2
    one = found[f"i-{1:017x}"]
    assert (one.name, one.state, one.raw_state) == ("node-1", InstanceState.RUNNING, "running")
    assert (one.region, one.zone, one.account) == ("us-east-1", "us-east-1a", "123456789012")
    assert (one.public_ips, one.private_ips) == (("198.51.100.2",), ("10.0.0.2",))
    assert (one.size, one.vcpus, one.memory_mb) == ("t3.small", 2, 2048)
    assert one.tags == {"Name": "node-1", "team": "web"}
    assert one.created_at == LAUNCHED and one.health_signal == "ok"
    far = found[f"i-{12:017x}"]
    assert (far.region, far.zone, far.memory_mb) == ("eu-west-1", "eu-west-1b", 8192)


async def test_status_checks_and_state_reasons_are_merged_into_each_instance(
    sim: Ec2Sim, fleet: CloudFleet
) -> None:
    fleet.set_state("aws", f"i-{2:017x}", InstanceState.STOPPED)
    fleet.set_state("aws", f"i-{3:017x}", InstanceState.PENDING)
    fleet.set_state("aws", f"i-{4:017x}", InstanceState.RUNNING, instance_status="impaired")
    fleet.set_state("aws", f"i-{5:017x}", InstanceState.UNKNOWN, ec2_state="hibernating")
    found = await listed(sim)
    stopped = found[f"i-{2:017x}"]
    assert (stopped.state, stopped.substate) == (
        InstanceState.STOPPED,
        "Client.UserInitiatedShutdown",
    )
    assert stopped.health_signal is None
    assert found[f"i-{3:017x}"].health_signal == "initializing"
    assert found[f"i-{4:017x}"].health_signal == "impaired"
    odd = found[f"i-{5:017x}"]
    assert (odd.state, odd.raw_state) == (InstanceState.UNKNOWN, "hibernating")


async def test_state_changes_made_while_serving_show_in_the_next_listing(
    sim: Ec2Sim, fleet: CloudFleet
) -> None:
    aws = provider(sim)
    try:
        before = {i.id: i.state for i in await aws.list_instances()}
        fleet.set_state("aws", f"i-{0:017x}", InstanceState.STOPPING)
        fleet.set_state("aws", f"i-{1:017x}", InstanceState.TERMINATED)
        fleet.add(aws_instance(40, "us-east-1"))
        after = {i.id: i.state for i in await aws.list_instances()}
    finally:
        await aws.close()
    assert before[f"i-{0:017x}"] is InstanceState.RUNNING
    assert after[f"i-{0:017x}"] is InstanceState.STOPPING
    assert f"i-{1:017x}" not in after  # terminated: gone from the list
    assert after[f"i-{40:017x}"] is InstanceState.RUNNING


async def test_cpu_and_agent_memory_come_back_through_get_metric_data(
    sim: Ec2Sim, fleet: CloudFleet
) -> None:
    fleet.set_state("aws", f"i-{2:017x}", InstanceState.STOPPED)
    fleet.get("aws", f"i-{3:017x}").metrics.pop("mem_percent")
    aws = provider(sim)
    try:
        instances = await aws.list_instances()
        points = await aws.fetch_metrics(instances, start=NOW - timedelta(minutes=5), end=NOW)
    finally:
        await aws.close()
    assert sim.calls["ListMetrics"] == 2 and sim.calls["GetMetricData"] == 2  # one per region
    cpu = [p for p in points if p.instance == f"i-{7:017x}" and p.metric == "cpu_percent"]
    assert [p.ts for p in cpu] == [NOW - timedelta(minutes=m) for m in (5, 4, 3, 2, 1)]
    assert {p.value for p in cpu} == {7.0}
    by_instance = {(p.instance, p.metric) for p in points}
    assert (f"i-{7:017x}", "mem_percent") in by_instance
    assert (f"i-{3:017x}", "mem_percent") not in by_instance  # no agent there
    assert not any(p.instance == f"i-{2:017x}" for p in points)  # stopped: no data
    assert len(by_instance) == 18 * 2 - 1


async def test_bad_requests_get_ec2_errors_that_boto3_parses(sim: Ec2Sim) -> None:
    def calls() -> tuple[ClientError, ClientError, list[dict[str, Any]]]:
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=sim.endpoint_url)
        with pytest.raises(ClientError) as unknown_type:
            ec2.describe_instance_types(InstanceTypes=["x9.huge"])
        with pytest.raises(ClientError) as bad_size:
            ec2.describe_instances(MaxResults=2)
        return unknown_type.value, bad_size.value, ec2.describe_instance_types()["InstanceTypes"]

    # boto3 blocks: in a thread, so that the server on this loop can answer.
    unknown_type, bad_size, sizes = await asyncio.to_thread(calls)
    assert unknown_type.response["Error"]["Code"] == "InvalidInstanceType"
    assert bad_size.response["Error"]["Code"] == "InvalidParameterValue"
    assert {t["InstanceType"]: t["MemoryInfo"]["SizeInMiB"] for t in sizes} == {
        "m5.large": 8192,
        "t3.small": 2048,
    }


async def test_cloudwatch_also_answers_smithy_rpc_v2_cbor(sim: Ec2Sim) -> None:
    url = f"{sim.endpoint_url}/service/GraniteServiceVersion20100801/operation/ListMetrics"
    body = encode({"Namespace": "AWS/EC2", "MetricName": "CPUUtilization"})
    headers = {
        "Content-Type": "application/cbor",
        "smithy-protocol": "rpc-v2-cbor",
        "Authorization": "AWS4-HMAC-SHA256 Credential=sim/20260302/eu-west-1/monitoring/x",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as answer,
    ):
        assert answer.status == 200
        metrics = decode(await answer.read())["Metrics"]
    assert len(metrics) == 7  # the eu-west-1 instances only


def test_the_cbor_codec_round_trips_what_cloudwatch_sends() -> None:
    value = {
        "MetricDataQueries": [{"Id": "c0", "Period": 60, "ReturnData": True, "Neg": -300}],
        "StartTime": NOW,
        "Values": [1.5, 0.0],
        "Label": "CPU é" * 20,
        "Missing": None,
        "Big": 2**40,
    }
    assert decode(encode(value)) == value
    indefinite = b"\xbf\x61a\x9f\x01\x02\xff\xff"  # {_ "a": [_ 1, 2]}
    assert decode(indefinite) == {"a": [1, 2]}


def test_the_simulator_answers_as_moto_does_for_the_same_instances(tmp_path: pathlib.Path) -> None:
    """Instances launched in moto, copied into a fleet: both normalise to the same Instances."""
    from moto import mock_aws

    clock = ManualClock(NOW)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "api"}]}]
        ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=3, MaxCount=3, InstanceType="t3.medium",
            TagSpecifications=tags,
        )  # fmt: skip
        items = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        ec2.stop_instances(InstanceIds=[items[0]["InstanceId"]])
        moto_provider = AwsProvider(
            AwsProvider.validate_options({"regions": ["us-east-1"]}), clock=clock
        )
        from_moto = asyncio.run(moto_provider.list_instances())
        kind = ec2.describe_instance_types(InstanceTypes=["t3.medium"])["InstanceTypes"][0]
    fleet = CloudFleet(
        CloudInstance(
            "aws", i.id, i.name, i.zone or "", state=i.state, size=i.size or "",
            public_ip=i.public_ips[0] if i.public_ips else None,
            private_ip=i.private_ips[0], vcpus=kind["VCpuInfo"]["DefaultVCpus"],
            memory_mb=kind["MemoryInfo"]["SizeInMiB"], tags=dict(i.tags),
            created_at=i.created_at or LAUNCHED,
        )
        for i in from_moto
    )  # fmt: skip

    async def from_sim() -> list[Instance]:
        async with Ec2Sim(fleet, account_id=from_moto[0].account or "") as sim:
            return list((await listed(sim)).values())

    simulated = asyncio.run(from_sim())

    def comparable(i: Instance) -> Instance:
        return dataclasses.replace(i, substate=None if i.substate is None else "set")

    assert sorted(map(comparable, simulated), key=lambda i: i.id) == sorted(
        map(comparable, from_moto), key=lambda i: i.id
    )


async def test_a_window_shorter_than_the_period_gets_the_point_of_its_minute(
    sim: Ec2Sim,
) -> None:
    aws = provider(sim, regions=["eu-west-1"])
    try:
        instances = await aws.list_instances()
        start = NOW - timedelta(seconds=3)  # 08:59:57, inside the 08:59 bucket
        points = await aws.fetch_metrics(instances[:1], start=start, end=NOW)
    finally:
        await aws.close()
    assert [(p.metric, p.ts) for p in points] == [
        ("cpu_percent", NOW - timedelta(minutes=1)),
        ("mem_percent", NOW - timedelta(minutes=1)),
    ]
