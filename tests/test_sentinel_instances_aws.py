"""Instance health in the sentinel with the real AWS adapter, on moto's EC2 and CloudWatch."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from nephos.clock import ManualClock
from nephos.config.types import Config, HotStoreConfig, SentinelConfig, StorageConfig
from nephos.model import AlertSource, AlertState, MetricPoint
from nephos.providers.aws import AwsProvider
from nephos.sentinel.runner import Sentinel
from nephos.store import open_hot_store
from nephos.store.base import HotStore
from tests.test_provider_aws import AMI, isolate_from_host

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> Iterator[None]:
    isolate_from_host(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    with mock_aws():
        yield


@pytest.fixture
async def store(tmp_path: pathlib.Path) -> AsyncIterator[HotStore]:
    hot = open_hot_store(HotStoreConfig(path=str(tmp_path / "hot.db")))
    await hot.open()
    yield hot
    await hot.close()


def _launch(name: str) -> str:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    answer = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )
    return str(answer["Instances"][0]["InstanceId"])


async def test_a_stopped_ec2_instance_opens_an_alert_and_its_cpu_is_stored(
    aws: None, tmp_path: pathlib.Path, store: HotStore
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    web = _launch("web-1")
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": web}],
                "Timestamp": clock.now() - timedelta(seconds=90),
                "Value": 87.0,
                "Unit": "Percent",
            }
        ],
    )
    config = Config(
        storage=StorageConfig(hot=HotStoreConfig(path=str(tmp_path / "hot.db"))),
        sentinel=SentinelConfig(),
        providers={"aws": AwsProvider.validate_options({"regions": ["us-east-1"]})},
    )
    handed: list[MetricPoint] = []
    sentinel = Sentinel(config, store=store, clock=clock)
    sentinel.instances.on_metrics = handed.extend
    await sentinel.start()
    try:
        await sentinel.instances.poll_all()
        cpu = [p for p in await store.metrics(limit=100) if p.metric == "cpu_percent"]
        assert [(p.instance, p.value) for p in cpu] == [(web, 87.0)]
        assert handed == cpu

        boto3.client("ec2", region_name="us-east-1").stop_instances(InstanceIds=[web])
        clock.advance(60)
        await sentinel.instances.poll_all()
        alerts = await store.alerts(states=[AlertState.FIRING])
        assert [(a.source, a.dedup_key) for a in alerts] == [
            (AlertSource.INSTANCE, f"instance|aws|{web}")
        ]
        assert alerts[0].facts["cause"] == "instance web-1 (aws, us-east-1) being stopped"
    finally:
        await sentinel.close()
