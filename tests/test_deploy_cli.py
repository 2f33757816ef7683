"""The ``nephos deploy`` and ``nephos destroy`` commands on moto, with the full template (moto
skips the API Gateway v2 resources silently), and how watch and tail find a deployed stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nephos.cli.deploy_cmd import parse_parameters
from nephos.cli.main import main
from nephos.deploy.aws_outputs import SavedDeploy, deployed_stream, load_deploy, save_deploy
from nephos.errors import UsageError
from tests.test_handlers import isolate_aws


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("NEPHOS_DEPLOY_DIR", str(tmp_path / "deploys"))
    monkeypatch.setenv("NEPHOS_LAMBDA_WHEELS", "")  # offline: no wheel to fetch
    monkeypatch.delenv("NEPHOS_STACK", raising=False)
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


def nephos(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return int(done.value.code or 0)


def stacks(session: Any) -> list[str]:
    summaries = session.client("cloudformation").list_stacks()["StackSummaries"]
    return [s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"]


def test_deploy_without_yes_and_without_a_terminal_refuses_and_changes_nothing(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = nephos("deploy", "--region", "us-east-1", "-p", "EnableStreamLambdas=false")

    assert code == 3
    captured = capsys.readouterr()
    assert "pass --yes" in captured.err
    assert "Plan for stack nephos (CREATE)" in captured.out
    assert stacks(aws) == []


def test_deploy_dry_run_plans_both_apis_and_stops(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = nephos("deploy", "--region", "us-east-1", "--dry-run", "-p", "EnableStreamLambdas=false")

    out = capsys.readouterr().out
    assert code == 0
    assert "WebSocketApi" in out and "AWS::ApiGatewayV2::Route" in out
    assert "dry run: stack nephos was not changed" in out
    assert stacks(aws) == []


def test_deploy_yes_prints_outputs_then_destroy_yes_removes_everything(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = nephos(
        "deploy", "--region", "us-east-1", "--stack-name", "cli", "--yes",
        "-p", "EnableStreamLambdas=false",
    )  # fmt: skip

    out = capsys.readouterr().out
    assert code == 0
    assert "Stack cli deployed" in out and "Outputs" in out
    assert "cli-events" in out
    assert load_deploy("cli") is not None

    assert nephos("destroy", "--region", "us-east-1", "--stack-name", "cli", "--yes") == 0
    assert stacks(aws) == []
    assert load_deploy("cli") is None


def test_destroy_without_yes_and_without_a_terminal_keeps_the_stack(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    nephos("deploy", "--region", "us-east-1", "--yes", "-p", "EnableStreamLambdas=false")

    assert nephos("destroy", "--region", "us-east-1") == 3
    assert "pass --yes" in capsys.readouterr().err
    assert stacks(aws) == ["nephos"]


def test_a_parameter_without_a_value_is_a_usage_error() -> None:
    assert parse_parameters(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_parameters(["EnableEtl"])


def test_watch_and_tail_stream_from_the_saved_deploy_only_when_nothing_else_is_set(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEPHOS_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert deployed_stream(None, None) is None
    url = "wss://abc123.execute-api.us-east-1.amazonaws.com/live"
    save_deploy(SavedDeploy("nephos", "us-east-1", {"WebSocketUrl": url}, token="t0k"))

    found = deployed_stream(None, None)

    assert found is not None and (found.websocket_url, found.token) == (url, "t0k")
    assert deployed_stream("ws://127.0.0.1:8765/", None) is None
    (tmp_path / "nephos.yaml").write_text("hub: {listen: 127.0.0.1:9999}\n")
    assert deployed_stream(None, None) is None  # a config file in reach wins


def test_deploy_json_prints_the_result_and_sends_progress_to_stderr(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    code = nephos("deploy", "--region", "us-east-1", "--yes", "--json")

    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 0
    assert result["outcome"] == "deployed" and result["stack_name"] == "nephos"
    assert ":changeSet/nephos-deploy-" in result["change_set"]
    assert {"action": "Add", "logical_id": "EventsTable", "type": "AWS::DynamoDB::Table",
            "replacement": None} in result["changes"]  # fmt: skip
    assert result["outputs"]["EventsTableName"] == "nephos-events"
    assert "Plan for stack nephos" in captured.err


def test_destroy_json_says_what_happened_and_sends_progress_to_stderr(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    nephos("deploy", "--region", "us-east-1", "--yes", "-p", "EnableStreamLambdas=false")
    capsys.readouterr()

    code = nephos("destroy", "--region", "us-east-1", "--yes", "--json")

    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out) == {
        "outcome": "destroyed", "stack_name": "nephos", "region": "us-east-1",
        "bucket_deleted": False,
    }  # fmt: skip
    assert "stack nephos deleted" in captured.err
    assert nephos("destroy", "--region", "us-east-1", "--yes", "--json") == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "no-stack"


def test_deploy_and_destroy_take_region_and_table_prefix_from_a_dynamodb_config(
    aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    config = tmp_path / "aws.yaml"
    config.write_text(
        "storage:\n  hot: {backend: dynamodb, region: eu-west-1, table_prefix: team-}\n"
    )

    code = nephos("deploy", "-c", str(config), "--yes", "--json", "-p", "EnableStreamLambdas=false")

    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["region"] == "eu-west-1"
    assert result["outputs"]["EventsTableName"] == "team-events"
    assert nephos("destroy", "-c", str(config), "--yes", "--json") == 0
    assert json.loads(capsys.readouterr().out)["region"] == "eu-west-1"


def test_deploy_and_destroy_refuse_an_invalid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.yaml").write_text("bogus: 1\n")
    for command in ("deploy", "destroy"):
        assert nephos(command, "--dry-run" if command == "deploy" else "--yes",
                      "-c", str(tmp_path / "bad.yaml")) == 3  # fmt: skip
        assert "bogus" in capsys.readouterr().err
