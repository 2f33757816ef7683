"""The AWS provider against moto: listing across regions, profiles and pages, states, status
checks, CloudWatch metrics with batching, and failures mapped to one-line reasons."""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import Instance as MotoInstance

from nephos.clock import ManualClock
from nephos.errors import ProviderError
from nephos.model import InstanceState
from nephos.providers.aws import AwsProvider, health_signal, normalise_instance
from nephos.providers.aws_errors import map_boto_error
from nephos.providers.aws_metrics import (
    MAX_QUERIES_PER_CALL,
    batch_queries,
    metric_queries,
    run_queries,
)

AMI = "ami-12c6146b"
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def isolate_from_host(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    """Point boto3 at config files of the test's own, never at the machine's."""
    (tmp_path / "config").write_text(
        "[profile alpha]\nregion = us-east-1\n[profile beta]\nregion = eu-west-1\n"
    )
    (tmp_path / "credentials").write_text(
        "[alpha]\naws_access_key_id = testing\naws_secret_access_key = testing-secret\n"
        "[beta]\naws_access_key_id = testing\naws_secret_access_key = testing-secret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no IMDS probing on a laptop
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> Iterator[None]:
    isolate_from_host(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    with mock_aws():
        yield


def provider(clock: ManualClock | None = None, **options: Any) -> AwsProvider:
    return AwsProvider(AwsProvider.validate_options(options), clock=clock or ManualClock(NOW))


def launch(region: str, count: int = 1, *, name: str | None = None) -> list[str]:
    ec2 = boto3.client("ec2", region_name=region)
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}] if name else []
    answer = ec2.run_instances(
        ImageId=AMI,
        MinCount=count,
        MaxCount=count,
        InstanceType="t3.micro",
        TagSpecifications=tags,
    )
    return [item["InstanceId"] for item in answer["Instances"]]


def set_moto_state(region: str, instance_id: str, name: str, code: int) -> None:
    state = ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance(instance_id)._state
    state.name, state.code = name, code


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- listing


async def test_instances_are_listed_across_regions_with_normalised_fields(aws: None) -> None:
    east = launch("us-east-1", 2, name="web")
    west = launch("eu-west-1", 1, name="db")
    clock = ManualClock(NOW)
    aws_provider = provider(clock, regions=["us-east-1", "eu-west-1"])

    found = {i.id: i for i in await aws_provider.list_instances()}

    assert set(found) == {*east, *west}
    web = found[east[0]]
    assert (web.provider, web.name, web.region, web.state) == (
        "aws",
        "web",
        "us-east-1",
        InstanceState.RUNNING,
    )
    assert found[west[0]].region == "eu-west-1" and found[west[0]].name == "db"
    assert web.account == DEFAULT_ACCOUNT_ID
    assert web.zone is not None and web.zone.startswith("us-east-1")
    assert (web.size, web.vcpus, web.memory_mb) == ("t3.micro", 2, 1024)
    assert web.public_ips and web.private_ips
    assert web.tags == {"Name": "web"}
    assert web.created_at is not None and web.created_at.tzinfo is not None
    assert web.updated_at == NOW
    await aws_provider.close()


async def test_the_name_falls_back_to_the_instance_id_without_a_name_tag(aws: None) -> None:
    (instance_id,) = launch("us-east-1")
    (instance,) = await provider(regions=["us-east-1"]).list_instances()
    assert instance.name == instance_id


async def test_every_page_of_describe_instances_is_read(aws: None) -> None:
    ids = [launch("us-east-1")[0] for _ in range(12)]  # moto pages by reservation
    pages = boto3.client("ec2", region_name="us-east-1").get_paginator("describe_instances")
    assert len(list(pages.paginate(PaginationConfig={"PageSize": 5}))) == 3  # the stand-in pages

    found = await provider(regions=["us-east-1"], page_size=5).list_instances()

    assert sorted(i.id for i in found) == sorted(ids)


async def test_profiles_each_use_their_own_region_and_one_account_is_not_listed_twice(
    aws: None,
) -> None:
    east = launch("us-east-1", 2)
    west = launch("eu-west-1", 1)
    both = provider(profiles=["alpha", "beta"])  # alpha: us-east-1, beta: eu-west-1

    found = await both.list_instances()

    assert sorted(i.id for i in found) == sorted(east + west)
    twice = provider(profiles=["alpha", "alpha"], regions=["us-east-1"])
    assert len(await twice.list_instances()) == 2


async def test_every_ec2_state_maps_to_the_normalised_vocabulary(aws: None) -> None:
    ids = launch("us-east-1", 7)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.stop_instances(InstanceIds=[ids[1]])
    ec2.terminate_instances(InstanceIds=[ids[2]])
    set_moto_state("us-east-1", ids[3], "pending", 0)
    set_moto_state("us-east-1", ids[4], "stopping", 64)
    set_moto_state("us-east-1", ids[5], "shutting-down", 32)
    set_moto_state("us-east-1", ids[6], "hibernating", 96)  # a word AWS might add one day

    found = {i.id: i for i in await provider(regions=["us-east-1"]).list_instances()}

    expected = [
        (InstanceState.RUNNING, "running"),
        (InstanceState.STOPPED, "stopped"),
        (InstanceState.TERMINATED, "terminated"),
        (InstanceState.PENDING, "pending"),
        (InstanceState.STOPPING, "stopping"),
        (InstanceState.TERMINATING, "shutting-down"),
        (InstanceState.UNKNOWN, "hibernating"),
    ]
    assert [(found[i].state, found[i].raw_state) for i in ids] == expected
    assert found[ids[1]].substate == "Client.UserInitiatedShutdown"
    assert found[ids[0]].substate is None


def test_the_state_code_is_read_with_its_internal_high_byte_masked() -> None:
    item = {"InstanceId": "i-1", "State": {"Code": 0x100 | 80}}
    instance = normalise_instance(
        item, region="us-east-1", account=None, signal=None, type_info=(None, None), now=NOW
    )
    assert (instance.state, instance.raw_state, instance.name) == (
        InstanceState.STOPPED,
        "stopped",
        "i-1",
    )


def test_cpu_options_give_the_vcpu_count_before_the_type_default() -> None:
    item = {"InstanceId": "i-1", "CpuOptions": {"CoreCount": 4, "ThreadsPerCore": 2}}
    instance = normalise_instance(
        item, region="us-east-1", account=None, signal=None, type_info=(2, 4096), now=NOW
    )
    assert (instance.vcpus, instance.memory_mb) == (8, 4096)


# --------------------------------------------------------------------------- status checks


async def test_status_checks_are_merged_for_running_and_stopped_instances(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, impaired, stopped = launch("us-east-1", 3)
    boto3.client("ec2", region_name="us-east-1").stop_instances(InstanceIds=[stopped])
    real = MotoInstance.system_status

    def system_status(self: MotoInstance) -> dict[str, Any]:
        if self.id == impaired:
            return {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed"}]}
        return real.fget(self)  # type: ignore[attr-defined,no-any-return]

    monkeypatch.setattr(MotoInstance, "system_status", property(system_status))

    found = {i.id: i for i in await provider(regions=["us-east-1"]).list_instances()}

    assert found[ok].health_signal == "ok"
    assert found[impaired].health_signal == "impaired"
    assert found[stopped].health_signal is None  # not-applicable


@pytest.mark.parametrize(
    ("system", "instance", "signal"),
    [
        ("ok", "ok", "ok"),
        ("ok", "impaired", "impaired"),
        ("impaired", "initializing", "impaired"),
        ("initializing", "ok", "initializing"),
        ("insufficient-data", "ok", "insufficient-data"),
        ("not-applicable", "not-applicable", None),
    ],
)
def test_health_signal_words(system: str, instance: str, signal: str | None) -> None:
    status = {"SystemStatus": {"Status": system}, "InstanceStatus": {"Status": instance}}
    assert health_signal(status) == signal


# --------------------------------------------------------------------------- metrics


def put(
    namespace: str, name: str, dimensions: dict[str, str], when: datetime, value: float
) -> None:
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": when,
                "Value": value,
            }
        ],
    )


async def test_cpu_and_agent_memory_are_read_back_as_percent_points(aws: None) -> None:
    with_agent, without_agent = launch("us-east-1", 2)
    for minutes, value in ((6, 20.0), (3, 40.0)):
        when = NOW - timedelta(minutes=minutes)
        put("AWS/EC2", "CPUUtilization", {"InstanceId": with_agent}, when, value)
    put("AWS/EC2", "CPUUtilization", {"InstanceId": without_agent}, NOW - timedelta(minutes=2), 7.5)
    agent_dims = {"InstanceId": with_agent, "InstanceType": "t3.micro", "ImageId": AMI}
    put("CWAgent", "mem_used_percent", agent_dims, NOW - timedelta(minutes=2), 63.0)
    aws_provider = provider(regions=["us-east-1"])
    instances = await aws_provider.list_instances()

    points = await aws_provider.fetch_metrics(instances, start=NOW - timedelta(minutes=20), end=NOW)

    series: dict[tuple[str, str], list[float]] = {}
    for point in points:
        series.setdefault((point.instance, point.metric), []).append(point.value)
    assert series == {
        (with_agent, "cpu_percent"): [20.0, 40.0],
        (with_agent, "mem_percent"): [63.0],
        (without_agent, "cpu_percent"): [7.5],
    }
    assert {(p.unit, p.provider) for p in points} == {("percent", "aws")}
    assert all(p.ts.tzinfo is not None and p.ts <= NOW for p in points)


async def test_terminated_instances_are_not_asked_for_metrics(aws: None) -> None:
    (gone,) = launch("us-east-1")
    boto3.client("ec2", region_name="us-east-1").terminate_instances(InstanceIds=[gone])
    put("AWS/EC2", "CPUUtilization", {"InstanceId": gone}, NOW - timedelta(minutes=2), 1.0)
    aws_provider = provider(regions=["us-east-1"])
    instances = await aws_provider.list_instances()
    assert (
        await aws_provider.fetch_metrics(instances, start=NOW - timedelta(hours=1), end=NOW) == []
    )


def test_queries_for_1200_instances_are_split_into_calls_of_at_most_500() -> None:
    ids = [f"i-{n:05d}" for n in range(1200)]
    memory = {i: [{"Name": "InstanceId", "Value": i}] for i in ids[:100]}

    queries, index = metric_queries(ids, memory, period=60)
    batches = batch_queries(queries)

    assert len(queries) == 1300
    assert [len(b) for b in batches] == [500, 500, 300]
    assert all(len(b) <= MAX_QUERIES_PER_CALL for b in batches)
    assert [q for b in batches for q in b] == queries  # nothing lost or reordered
    assert len({q["Id"] for q in queries}) == 1300 and set(index) == {q["Id"] for q in queries}
    assert all(q["Id"][0].islower() for q in queries)
    assert sum(1 for metric in index.values() if metric[1] == "mem_percent") == 100


def test_a_large_query_is_sent_in_several_get_metric_data_calls(aws: None) -> None:
    client = boto3.client("cloudwatch", region_name="us-east-1")
    calls: list[int] = []
    client.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: calls.append(len(params["MetricDataQueries"])),
    )
    ids = [f"i-{n:05d}" for n in range(1200)]
    for instance in (ids[0], ids[700], ids[1199]):
        put("AWS/EC2", "CPUUtilization", {"InstanceId": instance}, NOW - timedelta(minutes=1), 5.0)
    queries, index = metric_queries(ids, {}, period=60)

    values = run_queries(client, queries, start=NOW - timedelta(minutes=10), end=NOW)

    assert calls == [500, 500, 200]
    with_data = {index[q][0] for q, pairs in values.items() if pairs}
    assert with_data == {ids[0], ids[700], ids[1199]}


def test_next_token_pages_of_get_metric_data_are_followed() -> None:
    client = boto3.client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    queries, _ = metric_queries(["i-1"], {}, period=60)
    start, end = NOW - timedelta(minutes=10), NOW
    first, second = NOW - timedelta(minutes=5), NOW - timedelta(minutes=4)
    with Stubber(client) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "c0", "Timestamps": [first], "Values": [1.0]}],
             "NextToken": "page-2"},
        )  # fmt: skip
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [{"Id": "c0", "Timestamps": [second], "Values": [2.0]}]},
            {"MetricDataQueries": queries, "StartTime": start, "EndTime": end,
             "ScanBy": "TimestampAscending", "NextToken": "page-2"},
        )  # fmt: skip
        values = run_queries(client, queries, start=start, end=end)
        stub.assert_no_pending_responses()
    assert values == {"c0": [(first, 1.0), (second, 2.0)]}


# --------------------------------------------------------------------------- failures


async def test_missing_credentials_are_a_provider_error_with_a_clear_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    isolate_from_host(monkeypatch, tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "credentials").write_text("")

    with pytest.raises(ProviderError) as caught:
        await provider(regions=["us-east-1"], max_attempts=1).list_instances()

    assert str(caught.value) == (
        "aws us-east-1: no credentials found (configure a profile, environment variables or SSO)"
    )
    assert caught.value.exit_code == 4


async def test_an_unreachable_endpoint_is_a_provider_error_naming_the_host_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    isolate_from_host(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    port = closed_port()
    unreachable = provider(
        regions=["eu-west-1"], endpoint_url=f"http://127.0.0.1:{port}/", max_attempts=1
    )

    with pytest.raises(ProviderError) as caught:
        await unreachable.list_instances()

    assert str(caught.value) == f"aws eu-west-1: cannot reach 127.0.0.1:{port}"


async def test_an_unknown_profile_is_named_in_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    isolate_from_host(monkeypatch, tmp_path)
    with pytest.raises(ProviderError) as caught:
        await provider(profiles=["nosuch"], regions=["us-east-1"]).list_instances()
    assert str(caught.value) == (
        "aws us-east-1 (profile nosuch): the profile is not in the AWS config files"
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("UnauthorizedOperation", "DescribeInstances was refused (UnauthorizedOperation): "
                                  "the credentials lack access"),
        ("AuthFailure", "DescribeInstances was refused (AuthFailure): the credentials lack access"),
        ("ExpiredToken", "DescribeInstances was refused (ExpiredToken): "
                         "the credentials have expired"),
        ("RequestLimitExceeded", "DescribeInstances was throttled (RequestLimitExceeded) "
                                 "after retries"),
        ("InternalError", "DescribeInstances failed (InternalError, HTTP 500)"),
    ],
)  # fmt: skip
def test_refusals_map_to_one_line_without_the_aws_message(code: str, reason: str) -> None:
    secret_bearing = "User: arn:aws:iam::123456789012:user/alice is not authorized; sig=abc123"
    error = ClientError(
        {"Error": {"Code": code, "Message": secret_bearing},
         "ResponseMetadata": {"HTTPStatusCode": 500 if code == "InternalError" else 403}},
        "DescribeInstances",
    )  # fmt: skip

    mapped = map_boto_error(error, region="us-east-1", profile="prod")

    assert str(mapped) == f"aws us-east-1 (profile prod): {reason}"
    assert "alice" not in str(mapped) and "abc123" not in str(mapped)


async def test_no_region_anywhere_is_a_provider_error_saying_where_to_set_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    isolate_from_host(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    with pytest.raises(ProviderError) as caught:
        await provider().list_instances()
    assert str(caught.value) == "aws: no region configured (set providers.aws.regions)"
    with pytest.raises(ProviderError) as unknown:
        await provider(profiles=["gamma"]).list_instances()
    assert str(unknown.value) == "aws (profile gamma): the profile is not in the AWS config files"


def test_a_read_timeout_names_the_host_without_the_signed_query() -> None:
    signed = "https://ec2.us-east-1.amazonaws.com/?Action=DescribeInstances&X-Amz-Signature=abc123"
    mapped = map_boto_error(ReadTimeoutError(endpoint_url=signed), region="us-east-1", profile=None)
    assert str(mapped) == "aws us-east-1: timed out talking to ec2.us-east-1.amazonaws.com"
