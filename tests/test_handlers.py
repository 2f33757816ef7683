"""The Lambda handlers of infra/handlers, called as functions against moto: ingest writes
points through the DynamoDB store, connections keep rows with a TTL and answer pings,
broadcast posts the local hub's frames and drops connections that are gone.

The tables are the stack's own: each test deploys the moto variant of the template first.
Stream records are read from moto's DynamoDB Streams and handed over as Lambda would.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from rich.console import Console

from nephos.cli.deploy_cmd import RichProgress
from nephos.deploy.aws_deploy import DeployRequest, deploy
from nephos.deploy.aws_live import CONNECTION_TTL_S, Connection, ConnectionTable, fan_out
from nephos.deploy.aws_template import load_template, without_types
from nephos.model import Event, EventKind
from nephos.stream.protocol import event_frame, parse_server_message

INFRA = Path(__file__).resolve().parents[1] / "infra"
ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/live"


def _import(name: str) -> ModuleType:
    if str(INFRA) not in sys.path:
        sys.path.insert(0, str(INFRA))
    import importlib

    return importlib.import_module(f"handlers.{name}")


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("NEPHOS_DEPLOY_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    isolate_aws(monkeypatch, tmp_path)
    runtime = _import("runtime")
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        request = DeployRequest(
            stack_name="hs",
            parameters={"EnableStreamLambdas": "false"},
            template=without_types(load_template(INFRA / "template.yaml")),
            wheels=(),
        )
        deploy(request, RichProgress(Console(file=io.StringIO()), assume_yes=True), session=session)
        env = {
            "NEPHOS_TABLE_PREFIX": "hs-",
            "NEPHOS_CONNECTIONS_TABLE": "hs-connections",
            "NEPHOS_TOKEN_PARAMETER": "/nephos/hs/hub-token",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        token = session.client("ssm").get_parameter(
            Name=env["NEPHOS_TOKEN_PARAMETER"], WithDecryption=True
        )
        env["token"] = token["Parameter"]["Value"]
        runtime.reset()
        try:
            yield env
        finally:
            runtime.reset()


def isolate_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials; no profile, shared config, endpoint override or instance metadata."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def posted(connection_id: str) -> list[str]:
    """The frames moto's management API received for one connection, in order."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    data = (
        apigatewaymanagementapi_backends["123456789012"]["us-east-1"]
        .connections[connection_id]
        .data.decode()
    )
    frames, decoder, at = [], json.JSONDecoder(), 0
    while at < len(data):
        _, end = decoder.raw_decode(data, at)
        frames.append(data[at:end])
        at = end
    return frames


def http_event(body: bytes, token: str | None, **headers: str) -> dict[str, Any]:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return {
        "headers": {"Content-Type": "application/json", **headers},
        "rawQueryString": "",
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        "requestContext": {"http": {"method": "POST", "path": "/ingest"}},
    }


NOW = datetime.now(UTC).replace(microsecond=0)
# Recent: the store ignores points older than its retention (TTL deletes lazily).
POINTS = [
    {"instance": "web-1", "metric": "cpu", "unit": "%", "ts": NOW.isoformat(), "value": 41.5},
    {"instance": "web-1", "metric": "mem", "unit": "%", "ts": NOW.timestamp(), "value": 63},
]


def stream_records(table: str) -> list[dict[str, Any]]:
    """INSERT records of every item in ``table``, shaped as Lambda hands a DynamoDB stream
    batch over (a NEW_IMAGE record's image is the item in attribute-value form). In-process
    moto does not serve DescribeStream, so the images are read with a scan."""
    dynamodb = boto3.client("dynamodb")
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return [
        {
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": arn,
            "dynamodb": {"NewImage": item, "StreamViewType": "NEW_IMAGE"},
        }
        for item in items
    ]


def test_ingest_validates_points_and_writes_them_through_the_store(
    stack: dict[str, str],
) -> None:
    ingest, runtime = _import("ingest"), _import("runtime")

    answer = ingest.handler(http_event(json.dumps(POINTS).encode(), stack["token"]), None)

    assert answer["statusCode"] == 202
    assert json.loads(answer["body"]) == {"accepted": 2, "spooled": False}
    stored = runtime.run(runtime.store().metrics("web-1"))
    assert sorted((p.metric, p.value) for p in stored) == [("cpu", 41.5), ("mem", 63.0)]
    events = runtime.run(runtime.store().changes(0))
    assert [e.kind for e in events] == [EventKind.METRIC, EventKind.METRIC]


def test_ingest_takes_gzip_json_lines_like_the_hub(stack: dict[str, str]) -> None:
    ingest = _import("ingest")
    body = gzip.compress(b"\n".join(json.dumps(p).encode() for p in POINTS))

    answer = ingest.handler(
        http_event(
            body,
            stack["token"],
            **{"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        ),
        None,
    )

    assert answer["statusCode"] == 202


def test_ingest_refuses_a_missing_or_wrong_token_and_stores_nothing(
    stack: dict[str, str],
) -> None:
    ingest, runtime = _import("ingest"), _import("runtime")

    for token in (None, "wrong"):
        answer = ingest.handler(http_event(json.dumps(POINTS).encode(), token), None)
        assert answer["statusCode"] == 401
        assert answer["headers"]["WWW-Authenticate"] == 'Bearer realm="nephos"'
    assert runtime.run(runtime.store().latest_seq()) == 0


def test_ingest_names_the_bad_point_and_field(stack: dict[str, str]) -> None:
    ingest = _import("ingest")
    bad = [POINTS[0], {**POINTS[1], "value": "high"}]

    answer = ingest.handler(http_event(json.dumps(bad).encode(), stack["token"]), None)

    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["index"] == 1
    assert json.loads(answer["body"])["field"] == "value"


def ws_event(route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "requestContext": {
            "routeKey": route,
            "connectionId": connection_id,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "stage": "live",
        },
        **extra,
    }


def test_connect_checks_the_token_and_stores_a_row_with_a_ttl(stack: dict[str, str]) -> None:
    connections, runtime = _import("connections"), _import("runtime")
    query = {"token": [stack["token"]], "since": ["5"], "kinds": ["alert"]}

    answer = connections.handler(
        ws_event("$connect", "c1", multiValueQueryStringParameters=query), None
    )

    assert answer == {"statusCode": 200}
    row = boto3.client("dynamodb").get_item(
        TableName="hs-connections", Key={"connection_id": {"S": "c1"}}
    )["Item"]
    assert row["endpoint"]["S"] == ENDPOINT
    assert row["query"]["S"] == "since=5&kinds=alert"  # the token is not kept
    assert int(row["expires_at"]["N"]) - int(row["connected_at"]["N"]) == CONNECTION_TTL_S
    now = int(runtime.clock.now().timestamp())
    assert now - 5 <= int(row["connected_at"]["N"]) <= now


def test_connect_without_the_token_is_refused_and_leaves_no_row(stack: dict[str, str]) -> None:
    connections = _import("connections")

    answer = connections.handler(
        ws_event("$connect", "c2", headers={"Authorization": "Bearer nope"}), None
    )

    assert answer["statusCode"] == 401
    rows = boto3.client("dynamodb").scan(TableName="hs-connections")["Items"]
    assert rows == []


def test_disconnect_removes_the_row(stack: dict[str, str]) -> None:
    connections = _import("connections")
    headers = {"Authorization": f"Bearer {stack['token']}"}
    connections.handler(ws_event("$connect", "c3", headers=headers), None)

    assert connections.handler(ws_event("$disconnect", "c3"), None) == {"statusCode": 200}

    assert boto3.client("dynamodb").scan(TableName="hs-connections")["Items"] == []


def test_a_ping_on_the_default_route_is_answered_with_a_pong(stack: dict[str, str]) -> None:
    connections = _import("connections")

    connections.handler(ws_event("$default", "c4", body='{"type":"ping","t":1234.5}'), None)

    assert [json.loads(f) for f in posted("c4")] == [{"v": 1, "type": "pong", "t": 1234.5}]


def test_broadcast_posts_the_hubs_event_frames_to_matching_connections(
    stack: dict[str, str],
) -> None:
    ingest, broadcast, runtime = _import("ingest"), _import("broadcast"), _import("runtime")
    table = ConnectionTable(boto3.client("dynamodb"), "hs-connections", runtime.clock)
    table.add(Connection("all", ENDPOINT, ""))
    table.add(Connection("alerts-only", ENDPOINT, "kinds=alert"))
    ingest.handler(http_event(json.dumps(POINTS).encode(), stack["token"]), None)

    summary = broadcast.handler({"Records": stream_records("hs-events")}, None)

    expected = [event_frame(e) for e in runtime.run(runtime.store().changes(0))]
    assert posted("all") == expected  # the very text the local hub sends
    assert summary == {"events": 2, "posted": 2, "gone": 0, "greeted": 0}
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    backend = apigatewaymanagementapi_backends["123456789012"]["us-east-1"]
    assert "alerts-only" not in backend.connections


def test_a_new_connection_row_brings_hello_and_a_snapshot(stack: dict[str, str]) -> None:
    ingest, connections, broadcast = _import("ingest"), _import("connections"), _import("broadcast")
    ingest.handler(http_event(json.dumps(POINTS).encode(), stack["token"]), None)
    headers = {"Authorization": f"Bearer {stack['token']}"}
    connections.handler(ws_event("$connect", "fresh", headers=headers), None)

    summary = broadcast.handler({"Records": stream_records("hs-connections")}, None)

    frames = [parse_server_message(f) for f in posted("fresh")]
    assert [f.type for f in frames] == ["hello", "snapshot"]
    assert frames[0].seq == frames[1].seq == 2  # type: ignore[union-attr]
    assert summary["greeted"] == 1


def test_a_resuming_connection_gets_the_events_after_its_since(stack: dict[str, str]) -> None:
    ingest, connections, broadcast = _import("ingest"), _import("connections"), _import("broadcast")
    ingest.handler(http_event(json.dumps(POINTS).encode(), stack["token"]), None)
    query = {"token": [stack["token"]], "since": ["1"]}
    connections.handler(ws_event("$connect", "resume", multiValueQueryStringParameters=query), None)

    broadcast.handler({"Records": stream_records("hs-connections")}, None)

    frames = [parse_server_message(f) for f in posted("resume")]
    assert [(f.type, getattr(f, "seq", None)) for f in frames] == [("hello", 2), ("event", 2)]


def test_a_connection_that_is_gone_is_removed_and_the_others_still_get_frames(
    stack: dict[str, str],
) -> None:
    from botocore.stub import Stubber

    runtime = _import("runtime")
    table = ConnectionTable(boto3.client("dynamodb"), "hs-connections", runtime.clock)
    for name in ("gone", "alive"):
        table.add(Connection(name, ENDPOINT, ""))
    api = boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT)
    stubber = Stubber(api)
    event = Event(7, EventKind.METRIC, runtime.clock.now(), {"instance": "x"})
    frame = event_frame(event)
    for connection in sorted(c.connection_id for c in table.all()):
        if connection == "gone":
            stubber.add_client_error(
                "post_to_connection", service_error_code="GoneException", http_status_code=410
            )
        else:
            stubber.add_response(
                "post_to_connection", {}, {"ConnectionId": "alive", "Data": frame.encode()}
            )

    with stubber:
        connections = sorted(table.all(), key=lambda c: c.connection_id)
        sent, gone = fan_out(connections, [event], lambda endpoint: api, table)

    assert (sent, gone) == (1, 1)
    assert [c.connection_id for c in table.all()] == ["alive"]
    stubber.assert_no_pending_responses()


def test_etl_loads_a_stream_batch_into_snowflake_once(
    stack: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import warnings

    import fakesnow

    from nephos.warehouse.snowflake import SnowflakeWarehouse
    from tests.etl_support import warehouse_counts
    from tests.warehouse_fixtures import FAKESNOW_SETTINGS

    ingest, etl = _import("ingest"), _import("etl")
    boto3.client("secretsmanager").create_secret(
        Name="nephos/snowflake", SecretString=json.dumps(FAKESNOW_SETTINGS)
    )
    monkeypatch.setenv("NEPHOS_SNOWFLAKE_SECRET", "nephos/snowflake")
    ingest.handler(http_event(json.dumps(POINTS).encode(), stack["token"]), None)
    batch = {"Records": stream_records("hs-events")}
    (tmp_path / "snow").mkdir()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with fakesnow.patch(db_path=str(tmp_path / "snow")):
            first = etl.handler(batch, None)
            again = etl.handler(batch, None)  # Lambda retries a batch: nothing twice
            counts = asyncio.run(warehouse_counts(SnowflakeWarehouse(FAKESNOW_SETTINGS)))

    assert (first, again) == ({"loaded": 2}, {"loaded": 0})
    assert (counts["events"], counts["distinct"], counts["metrics"]) == (2, 2, 2)


def test_sentinel_runs_one_round_into_the_stacks_tables(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    sentinel, runtime = _import("sentinel"), _import("runtime")
    with socket.socket() as probe:  # a port nothing listens on: the check fails at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = f"targets:\n  - name: closed-port\n    url: tcp://127.0.0.1:{port}\n"
    boto3.client("ssm").put_parameter(Name="/nephos/sentinel-config", Value=config, Type="String")
    monkeypatch.setenv("NEPHOS_CONFIG_PARAMETER", "/nephos/sentinel-config")

    answer = sentinel.handler({"source": "aws.events"}, None)

    assert answer == {"health": "unhealthy"}
    latest = runtime.run(runtime.store().latest_results())
    assert [(r.target, r.success) for r in latest] == [("closed-port", False)]


def test_a_connection_whose_query_does_not_parse_gets_everything() -> None:
    assert Connection("c", ENDPOINT, "since=x&kinds=nonsense").filter.everything
    assert not Connection("c", ENDPOINT, "kinds=alert").filter.everything
