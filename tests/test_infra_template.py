"""infra/template.yaml checked resource by resource, where moto cannot deploy it: cfn-lint,
least-privilege policies, tables that match the DynamoDB store, both APIs, outputs, switches."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nephos.deploy.aws_layer import layer_architecture
from nephos.deploy.aws_template import (
    API_GATEWAY_V2,
    find_infra_dir,
    load_template,
    references,
    without_types,
)

INFRA = Path(__file__).resolve().parents[1] / "infra"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(INFRA / "template.yaml")


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_finds_nothing_in_the_template() -> None:
    from cfnlint.api import lint_file

    matches = lint_file(INFRA / "template.yaml")
    assert [str(m) for m in matches] == []


def test_cfn_lint_would_catch_a_broken_stream_view_type(tmp_path: Path) -> None:
    from cfnlint.api import lint_file

    broken = tmp_path / "broken.yaml"
    text = (INFRA / "template.yaml").read_text().replace("NEW_IMAGE", "NEW_IMAGES", 1)
    broken.write_text(text)
    assert any("NEW_IMAGES" in str(m) for m in lint_file(broken))


def test_the_template_uses_no_sam_transform(template: dict[str, Any]) -> None:
    assert "Transform" not in template
    assert not [r for r in template["Resources"].values() if "Serverless" in r["Type"]]


def _statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                found.append((f"{name}/{policy['PolicyName']}", statement))
    return found


def test_no_policy_statement_allows_any_action_on_any_resource(
    template: dict[str, Any],
) -> None:
    statements = _statements(template)
    assert len(statements) > 10
    for where, statement in statements:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement["Resource"]
        resources = [resources] if not isinstance(resources, list) else resources
        assert not any("*" in a for a in actions), f"{where}: wildcard action {actions}"
        assert "*" not in resources, f"{where}: resource '*'"


def test_roles_use_no_managed_policies_and_trust_only_lambda(template: dict[str, Any]) -> None:
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], name
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]


def test_tables_are_on_demand_with_new_image_streams_and_ttl(template: dict[str, Any]) -> None:
    tables = resources_of(template, "AWS::DynamoDB::Table")
    assert set(tables) == {
        "ResultsTable",
        "AlertsTable",
        "InstancesTable",
        "StateTable",
        "EventsTable",
        "ConnectionsTable",
    }
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
        if name != "StateTable":  # the counter's churn has no reader
            assert props["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}, name


def _key_schema(props: dict[str, Any]) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    return [
        (k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in props["KeySchema"]
    ]


@mock_aws
def test_store_tables_have_the_keys_the_dynamodb_store_creates(template: dict[str, Any]) -> None:
    from nephos.store.dynamodb_client import DynamoOptions
    from nephos.store.dynamodb_tables import ROLES, create_tables

    client = boto3.client("dynamodb", region_name="us-east-1")
    options = DynamoOptions(table_prefix="t-", region="us-east-1")
    create_tables(client, options)
    for role in ROLES:
        props = template["Resources"][f"{role.capitalize()}Table"]["Properties"]
        described = client.describe_table(TableName=f"t-{role}")["Table"]
        assert _key_schema(props) == _key_schema(described), role
        assert props["TableName"]["Fn::Sub"][0] == "${Prefix}" + role


def test_http_api_routes_post_ingest_to_the_ingest_function(template: dict[str, Any]) -> None:
    res = template["Resources"]
    assert res["HttpApi"]["Properties"]["ProtocolType"] == "HTTP"
    route = res["IngestRoute"]["Properties"]
    assert route["RouteKey"] == "POST /ingest"
    assert route["Target"] == {"Fn::Sub": "integrations/${IngestIntegration}"}
    integration = res["IngestIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["IngestFunction", "Arn"]}
    assert res["HttpStage"]["Properties"] == {
        "ApiId": {"Ref": "HttpApi"},
        "StageName": "$default",
        "AutoDeploy": True,
    }
    permission = res["IngestPermission"]["Properties"]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${HttpApi}/*/POST/ingest" in permission["SourceArn"]["Fn::Sub"]


def test_websocket_api_routes_connect_disconnect_and_default(template: dict[str, Any]) -> None:
    res = template["Resources"]
    api = res["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.type"
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources_of(template, "AWS::ApiGatewayV2::Route").values()
        if r["Properties"]["ApiId"] == {"Ref": "WebSocketApi"}
    }
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    for route in routes.values():
        assert route["Target"] == {"Fn::Sub": "integrations/${ConnectionsIntegration}"}
    uri = res["ConnectionsIntegration"]["Properties"]["IntegrationUri"]["Fn::Sub"]
    assert "${ConnectionsFunction.Arn}/invocations" in uri
    stage = res["WebSocketStage"]["Properties"]
    assert stage["StageName"] == {"Ref": "StageName"} and stage["AutoDeploy"] is True
    assert res["ConnectionsPermission"]["Properties"]["Principal"] == "apigateway.amazonaws.com"


def test_broadcast_reads_the_events_and_connections_streams(template: dict[str, Any]) -> None:
    res = template["Resources"]
    sources = {
        name: m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        for name, m in resources_of(template, "AWS::Lambda::EventSourceMapping").items()
    }
    assert sources == {
        "BroadcastEventsMapping": "EventsTable",
        "BroadcastConnectionsMapping": "ConnectionsTable",
        "EtlEventsMapping": "EventsTable",
    }
    assert res["BroadcastEventsMapping"]["Condition"] == "StreamLambdas"
    assert res["EtlEventsMapping"]["Condition"] == "EtlStream"
    manage = [
        s
        for where, s in _statements(template)
        if where.startswith("BroadcastRole") and s["Action"] == ["execute-api:ManageConnections"]
    ]
    assert "${WebSocketApi}/${StageName}/POST/@connections/*" in manage[0]["Resource"]["Fn::Sub"]


def test_functions_run_python_3_12_handlers_that_exist(template: dict[str, Any]) -> None:
    functions = resources_of(template, "AWS::Lambda::Function")
    assert set(functions) == {
        "IngestFunction",
        "ConnectionsFunction",
        "BroadcastFunction",
        "EtlFunction",
        "SentinelFunction",
    }
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12", name
        assert props["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
        module, _, entry = props["Handler"].rpartition(".")
        source = INFRA / (module.replace(".", "/") + ".py")
        tree = ast.parse(source.read_text())
        assert entry in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, name


def test_optional_parts_hang_on_their_switches(template: dict[str, Any]) -> None:
    res = template["Resources"]
    for name in ("EtlFunction", "EtlRole"):
        assert res[name]["Condition"] == "EtlEnabled"
    for name in ("SentinelFunction", "SentinelRole", "SentinelSchedule", "SentinelPermission"):
        assert res[name]["Condition"] == "SentinelEnabled"
    assert res["SentinelSchedule"]["Properties"]["ScheduleExpression"] == "rate(2 minutes)"
    params = template["Parameters"]
    for switch in ("EnableEtl", "EnableSentinel", "EnableStreamLambdas"):
        assert params[switch]["AllowedValues"] == ["true", "false"]
    assert params["EnableEtl"]["Default"] == params["EnableSentinel"]["Default"] == "false"


def test_outputs_name_urls_tables_and_topic(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for key in (
        "WebSocketUrl",
        "HttpUrl",
        "ResultsTableName",
        "AlertsTableName",
        "InstancesTableName",
        "EventsTableName",
        "ConnectionsTableName",
        "AlertTopicArn",
    ):
        assert key in outputs
    assert outputs["WebSocketUrl"]["Value"]["Fn::Sub"].startswith("wss://${WebSocketApi}.")
    # Built with Sub, not GetAtt on an API: stand-ins fail a GetAtt on a type they skip.
    for output in outputs.values():
        assert "Fn::GetAtt" not in str(output["Value"])


def test_the_variant_without_api_gateway_v2_keeps_every_function(
    template: dict[str, Any],
) -> None:
    variant = without_types(template)
    kinds = {r["Type"] for r in variant["Resources"].values()}
    assert not [k for k in kinds if k.startswith(API_GATEWAY_V2)]
    assert "IngestPermission" not in variant["Resources"]
    assert "ConnectionsPermission" not in variant["Resources"]
    assert {"IngestFunction", "ConnectionsFunction", "BroadcastFunction"} <= set(
        variant["Resources"]
    )
    assert "WebSocketUrl" not in variant["Outputs"]
    assert "AlertTopicArn" in variant["Outputs"]
    for name, resource in variant["Resources"].items():
        assert not references(resource) & {"HttpApi", "WebSocketApi"}, name


def test_find_infra_dir_prefers_an_explicit_directory_with_a_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_infra_dir() == INFRA
    monkeypatch.setenv("NEPHOS_INFRA_DIR", str(tmp_path))
    assert find_infra_dir() == INFRA  # a directory without template.yaml is passed over
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    assert find_infra_dir() == tmp_path
    assert find_infra_dir(INFRA) == INFRA


def _evaluate(value: Any, template: dict[str, Any], given: dict[str, str]) -> Any:
    """The template's condition functions and ``Fn::If`` under ``given`` parameters."""
    params = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()} | given
    if isinstance(value, list):
        return [_evaluate(v, template, given) for v in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((key, arg),) = value.items()
    if key == "Ref":
        return params.get(arg, {"Ref": arg})
    if key == "Condition":
        return _evaluate(template["Conditions"][arg], template, given)
    if key == "Fn::Equals":
        return _evaluate(arg[0], template, given) == _evaluate(arg[1], template, given)
    if key == "Fn::Not":
        return not _evaluate(arg[0], template, given)
    if key == "Fn::And":
        return all(_evaluate(a, template, given) for a in arg)
    if key == "Fn::Or":
        return any(_evaluate(a, template, given) for a in arg)
    if key == "Fn::If":
        chosen = _evaluate(template["Conditions"][arg[0]], template, given)
        return _evaluate(arg[1] if chosen else arg[2], template, given)
    return value


@pytest.mark.parametrize(
    ("given", "layers", "built"),
    [
        (
            {"EnableEtl": "true", "EnableSentinel": "true", "LayerKey": "s/layer-1.zip"},
            [{"Ref": "DependenciesLayer"}],
            True,
        ),
        (
            {
                "EnableEtl": "true",
                "EnableSentinel": "true",
                "LayerKey": "s/layer-1.zip",
                "DependenciesLayerArn": "arn:aws:lambda:us-east-1:1:layer:mine:3",
            },
            ["arn:aws:lambda:us-east-1:1:layer:mine:3"],
            False,
        ),
        ({"EnableEtl": "true", "EnableSentinel": "true"}, {"Ref": "AWS::NoValue"}, False),
        ({"LayerKey": "s/layer-1.zip"}, {"Ref": "AWS::NoValue"}, False),
    ],
    ids=["built", "override", "no-layer-key", "etl-and-sentinel-off"],
)
def test_etl_and_sentinel_use_the_built_layer_unless_an_arn_overrides_it(
    template: dict[str, Any], given: dict[str, str], layers: Any, built: bool
) -> None:
    res = template["Resources"]
    layer = res["DependenciesLayer"]

    assert layer["Type"] == "AWS::Lambda::LayerVersion"
    assert layer["Properties"]["Content"] == {
        "S3Bucket": {"Ref": "CodeBucket"},
        "S3Key": {"Ref": "LayerKey"},
    }
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    # The wheels are fetched for the functions' architecture: the layer must declare the same.
    assert layer["Properties"]["CompatibleArchitectures"] == [layer_architecture(template)]
    assert _evaluate({"Condition": layer["Condition"]}, template, given) is built
    for name in ("EtlFunction", "SentinelFunction"):
        assert _evaluate(res[name]["Properties"]["Layers"], template, given) == layers, name
    for name in ("IngestFunction", "ConnectionsFunction", "BroadcastFunction"):
        assert "Layers" not in res[name]["Properties"], name
