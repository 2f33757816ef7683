"""nephos deploy and destroy end to end on moto: packaging, the artifact bucket, a change set
used by its ARN, the plan, events, TTL fix-up, saved outputs, no changes, dry run, failures.

moto cannot create API Gateway v2 resources from a template, so these tests deploy the
variant without them (``without_types``); tests/test_infra_template.py checks the full one.
"""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rich.console import Console

from nephos.cli.deploy_cmd import RichProgress
from nephos.deploy.aws_deploy import DeployRequest, DeployResult, deploy
from nephos.deploy.aws_destroy import destroy
from nephos.deploy.aws_outputs import load_deploy
from nephos.deploy.aws_stack import DeployError
from nephos.deploy.aws_template import load_template, without_types
from nephos.errors import UsageError
from tests.test_handlers import isolate_aws

INFRA = Path(__file__).resolve().parents[1] / "infra"
REGION = "us-east-1"
BUCKET = f"nephos-deploy-123456789012-{REGION}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.setenv("NEPHOS_DEPLOY_DIR", str(tmp_path / "deploys"))
    isolate_aws(monkeypatch, tmp_path)
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture(scope="module")
def moto_template() -> dict[str, Any]:
    return without_types(load_template(INFRA / "template.yaml"))


def run(
    session: Any,
    template: dict[str, Any],
    *,
    dry_run: bool = False,
    parameters: dict[str, str] | None = None,
) -> tuple[DeployResult, str]:
    out = io.StringIO()
    progress = RichProgress(Console(file=out, width=160, highlight=False), assume_yes=True)
    request = DeployRequest(
        stack_name="nephos-test",
        parameters={"EnableStreamLambdas": "false", **(parameters or {})},
        dry_run=dry_run,
        template=template,
        wheels=(),
    )
    result = deploy(request, progress, session=session, sleep=_no_sleep)
    return result, out.getvalue()


def _no_sleep(seconds: float) -> None:
    raise AssertionError("moto finishes synchronously; nothing should wait")


def test_deploy_creates_the_stack_through_a_change_set(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    result, shown = run(aws, moto_template)

    assert result.outcome == "deployed"
    assert result.plan is not None and result.plan.change_set_type == "CREATE"
    assert ":changeSet/nephos-deploy-" in result.plan.change_set_arn
    added = {c.logical_id for c in result.plan.changes if c.action == "Add"}
    assert {"EventsTable", "ConnectionsTable", "BroadcastFunction", "AlertTopic"} <= added
    stack = aws.client("cloudformation").describe_stacks(StackName="nephos-test")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "Plan for stack nephos-test (CREATE)" in shown
    assert "+ add" in shown and "CREATE_COMPLETE" in shown


def test_deploy_uploads_the_code_to_a_private_versioned_bucket(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    run(aws, moto_template)

    s3 = aws.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("nephos-test/")
    function = aws.client("lambda").get_function(FunctionName="nephos-test-ingest")
    assert function["Configuration"]["Runtime"] == "python3.12"


def test_deploy_enables_ttl_the_stack_left_disabled(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    _, shown = run(aws, moto_template)

    dynamodb = aws.client("dynamodb")
    for role in ("results", "alerts", "events", "connections"):
        ttl = dynamodb.describe_time_to_live(TableName=f"nephos-test-{role}")
        assert ttl["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expires_at",
        }
    assert "enabled TTL (expires_at) on nephos-test-events" in shown


def test_deploy_saves_outputs_and_token_for_watch_and_tail(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    result, _ = run(aws, moto_template)

    assert result.saved_to is not None
    assert stat.S_IMODE(os.stat(result.saved_to).st_mode) == 0o600
    saved = load_deploy("nephos-test")
    assert saved is not None and saved.region == REGION
    assert saved.outputs["EventsTableName"] == "nephos-test-events"
    token = aws.client("ssm").get_parameter(
        Name="/nephos/nephos-test/hub-token", WithDecryption=True
    )["Parameter"]
    assert token["Type"] == "SecureString"
    assert saved.token == token["Value"] and len(saved.token) >= 32


def test_a_second_deploy_says_no_changes_and_leaves_no_change_set(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    run(aws, moto_template)
    result, shown = run(aws, moto_template)

    assert result.outcome == "no-changes"
    assert "code unchanged" in shown
    assert "no changes to deploy" in shown
    assert "creating the artifact bucket" not in shown  # reused
    assert "enabled TTL" not in shown  # enabled once: AWS refuses to enable it twice
    cfn = aws.client("cloudformation")
    leftover = cfn.list_change_sets(StackName="nephos-test")["Summaries"]
    assert [s for s in leftover if s["Status"] == "FAILED"] == []


def test_an_update_plans_the_added_and_removed_resources(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    run(aws, moto_template)
    changed = json.loads(json.dumps(moto_template))
    changed["Resources"]["SpareTopic"] = {"Type": "AWS::SNS::Topic", "Properties": {}}
    result, shown = run(aws, changed)

    assert result.outcome == "deployed"
    assert result.plan is not None and result.plan.change_set_type == "UPDATE"
    assert [(c.action, c.logical_id) for c in result.plan.changes] == [("Add", "SpareTopic")]
    assert "1 to add, 0 to modify, 0 to remove" in shown


def test_dry_run_shows_the_plan_and_changes_nothing(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    result, shown = run(aws, moto_template, dry_run=True)

    assert result.outcome == "dry-run"
    assert "Plan for stack nephos-test" in shown
    cfn = aws.client("cloudformation")
    stacks = cfn.list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks)
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert load_deploy("nephos-test") is None


def test_a_parameter_the_template_rules_out_is_refused_before_any_change(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    with pytest.raises(UsageError, match=r"RetentionDays=0: must be 1\.\.365"):
        run(aws, moto_template, parameters={"RetentionDays": "0"})
    with pytest.raises(UsageError, match="Bogus: no such parameter"):
        run(aws, moto_template, parameters={"Bogus": "1"})
    with pytest.raises(UsageError, match="CodeKey: filled in by nephos deploy"):
        run(aws, moto_template, parameters={"CodeKey": "x.zip"})
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []


def test_a_failed_resource_is_shown_with_its_reason_and_the_stack_status(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(moto_template))
    code = broken["Resources"]["IngestFunction"]["Properties"]["Code"]
    code["S3Bucket"] = "nephos-no-such-bucket"

    with pytest.raises(DeployError) as caught:
        run(aws, broken)

    shown = _console_of(caught.value)
    assert caught.value.status == "REVIEW_IN_PROGRESS"
    assert caught.value.failures
    assert "NoSuchBucket" in caught.value.failures[0].reason
    assert caught.value.exit_code == 4
    assert "stack status" in shown and "REVIEW_IN_PROGRESS" in shown


def _console_of(error: DeployError) -> str:
    out = io.StringIO()
    RichProgress(Console(file=out, width=200), assume_yes=True).failed(
        error.status or "?", list(error.failures)
    )
    return out.getvalue()


def test_destroy_deletes_the_stack_token_outputs_and_bucket(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    run(aws, moto_template)
    out = io.StringIO()
    progress = RichProgress(Console(file=out, width=160), assume_yes=True)

    deleted = destroy(
        "nephos-test",
        progress,
        confirm=lambda name: True,
        delete_bucket=True,
        session=aws,
        sleep=_no_sleep,
    )

    assert deleted is True
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert load_deploy("nephos-test") is None
    ssm = aws.client("ssm")
    assert ssm.describe_parameters()["Parameters"] == []
    assert BUCKET not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    assert "stack nephos-test deleted" in out.getvalue()
    assert f"artifact bucket {BUCKET} deleted" in out.getvalue()


def test_destroy_of_a_missing_stack_says_so(aws: Any) -> None:
    out = io.StringIO()
    progress = RichProgress(Console(file=out, width=160), assume_yes=True)

    deleted = destroy("nope", progress, confirm=lambda name: True, session=aws)

    assert deleted is False
    assert "no stack named nope" in out.getvalue()


def test_failures_name_the_cause_not_the_cancellations_it_caused() -> None:
    from datetime import UTC, datetime

    from nephos.deploy.aws_stack import StackEvent, failures, is_failed, is_terminal

    at = datetime(2026, 1, 5, tzinfo=UTC)
    # The order AWS reports a failed create in (oldest first, as the reader yields them).
    events = [
        StackEvent("1", at, "nephos", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS"),
        StackEvent("2", at, "AlertTopic", "AWS::SNS::Topic", "CREATE_FAILED", "Invalid name"),
        StackEvent(
            "3", at, "IngestRole", "AWS::IAM::Role", "CREATE_FAILED", "Resource creation cancelled"
        ),
        StackEvent("4", at, "nephos", "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS"),
        StackEvent("5", at, "nephos", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE"),
    ]

    found = failures(events)

    assert [(f.logical_id, f.reason) for f in found] == [("AlertTopic", "Invalid name")]
    assert not is_terminal("ROLLBACK_IN_PROGRESS")
    assert not is_terminal("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    assert is_terminal("ROLLBACK_COMPLETE") and is_failed("ROLLBACK_COMPLETE")
    assert is_terminal("UPDATE_ROLLBACK_COMPLETE") and is_failed("UPDATE_ROLLBACK_COMPLETE")
    assert is_terminal("UPDATE_COMPLETE") and not is_failed("UPDATE_COMPLETE")


def test_a_template_over_the_body_limit_goes_through_the_bucket(
    aws: Any, moto_template: dict[str, Any]
) -> None:
    from nephos.deploy.aws_deploy import TEMPLATE_BODY_LIMIT

    large = json.loads(json.dumps(moto_template))
    large["Metadata"] = {"Padding": "x" * TEMPLATE_BODY_LIMIT}

    result, shown = run(aws, large)

    assert result.outcome == "deployed"
    assert "uploading the template to s3://" in shown
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert [k for k in keys if "/template-" in k]


def test_with_etl_and_sentinel_on_the_deploy_publishes_the_layer_they_use(
    aws: Any, moto_template: dict[str, Any], tmp_path: Path
) -> None:
    import zipfile

    from nephos.deploy.aws_layer import LayerSpec

    # A finished download in the cache: the deploy builds the layer without the network.
    spec = LayerSpec(("tiny-dep==1.0",), ())
    cached = tmp_path / "wheels" / f"layer-{spec.key}"
    cached.mkdir(parents=True)
    with zipfile.ZipFile(cached / "tiny_dep-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tiny_dep/__init__.py", "VALUE = 1\n")
    (cached / "complete.json").write_text("[]")
    out = io.StringIO()
    request = DeployRequest(
        stack_name="nephos-test",
        parameters={"EnableStreamLambdas": "false", "EnableEtl": "true", "EnableSentinel": "true"},
        template=moto_template,
        wheels=(),
        wheel_cache=tmp_path / "wheels",
        layer_spec=spec,
    )

    progress = RichProgress(Console(file=out, width=160), assume_yes=True)
    result = deploy(request, progress, session=aws, sleep=_no_sleep)

    assert result.outcome == "deployed"
    assert result.plan is not None
    assert "DependenciesLayer" in {c.logical_id for c in result.plan.changes}
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    layer_keys = [k for k in keys if k.startswith("nephos-test/layer-")]
    assert len(layer_keys) == 1
    # moto publishes the layer version from the uploaded zip but drops a function's Layers
    # when it creates it from a template; tests/test_infra_template.py checks that the ETL
    # and sentinel functions name this layer under these parameters.
    layer_zip = aws.client("s3").get_object(Bucket=BUCKET, Key=layer_keys[0])["Body"].read()
    assert "python/tiny_dep/__init__.py" in zipfile.ZipFile(io.BytesIO(layer_zip)).namelist()
    (layer,) = aws.client("lambda").list_layers()["Layers"]
    assert layer["LayerName"].startswith("nephos-test-DependenciesLayer")
    assert layer["LatestMatchingVersion"]["CompatibleRuntimes"] == ["python3.12"]
    assert "dependencies layer: 1 packages" in out.getvalue()


def test_a_layer_arn_override_skips_building_the_layer(
    aws: Any, moto_template: dict[str, Any], tmp_path: Path
) -> None:
    awslambda = aws.client("lambda")
    published = awslambda.publish_layer_version(
        LayerName="my-deps", Content={"ZipFile": _tiny_zip()}, CompatibleRuntimes=["python3.12"]
    )["LayerVersionArn"]
    # No layer spec and no cache given: building a layer would have to fetch from PyPI.
    result, shown = run(
        aws,
        moto_template,
        parameters={"EnableEtl": "true", "DependenciesLayerArn": published},
    )

    assert result.outcome == "deployed"
    assert "dependencies layer" not in shown
    assert [layer["LayerArn"] for layer in awslambda.list_layers()["Layers"]] == [
        published.rpartition(":")[0]
    ]


def _tiny_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/tiny.py", "")
    return buffer.getvalue()
