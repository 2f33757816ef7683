"""The serverless path end to end against MiniStack: nephos deploy of the full template, a
nephos StreamClient on the WebSocket API (hello and snapshot from the broadcast Lambda), a
POST /ingest on the HTTP API, the metric's event frame arriving, pong, and nephos destroy.

MiniStack (a pip-installed AWS stand-in with API Gateway v2 data planes and Lambdas run in its
own interpreter) pins an older botocore, so it lives in its own virtualenv:

    python3 -m venv .venv-ministack
    .venv-ministack/bin/pip install ministack boto3 orjson
    NEPHOS_MINISTACK=.venv-ministack/bin/ministack .venv/bin/pytest tests/test_serverless_e2e.py

Without ``NEPHOS_MINISTACK`` the test is skipped, and says why.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from nephos.cli.deploy_cmd import RichProgress
from nephos.deploy.aws_deploy import DeployRequest, deploy
from nephos.deploy.aws_destroy import destroy
from nephos.stream.client import StateChange, StreamClient
from nephos.stream.protocol import EventMessage, Hello, Snapshot
from tests.test_handlers import isolate_aws

MINISTACK = os.environ.get("NEPHOS_MINISTACK", "")

pytestmark = pytest.mark.skipif(
    not MINISTACK,
    reason="MiniStack e2e not run: set NEPHOS_MINISTACK to a ministack executable installed "
    "in its own virtualenv with boto3 and orjson (see this module's docstring)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def ministack(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    root = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BIND_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        # Lambdas run in MiniStack's interpreter and post to connections under its local path.
        "NEPHOS_MANAGEMENT_ENDPOINT": f"{root}/_aws/execute-api/{{api_id}}/{{stage}}",
    }
    log = (tmp_path / "ministack.log").open("w")
    server = subprocess.Popen(
        [MINISTACK], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(root + "/", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"MiniStack did not start; see {tmp_path / 'ministack.log'}")
                time.sleep(0.2)
        yield root
    finally:
        # Its own session: warm Lambda workers go down with it.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        log.close()


def test_deploy_ingest_and_websocket_broadcast_on_ministack(
    ministack: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", ministack)
    monkeypatch.setenv("NEPHOS_DEPLOY_DIR", str(tmp_path / "deploys"))
    session = boto3.session.Session(region_name="us-east-1")
    shown = io.StringIO()
    progress = RichProgress(Console(file=shown, width=200), assume_yes=True)

    result = deploy(
        DeployRequest(stack_name="e2e", wheels=()), progress, session=session, poll_interval=0.2
    )

    assert result.outcome == "deployed"
    assert "AWS::ApiGatewayV2::Route" in shown.getvalue()  # per-resource events
    ws_id = result.outputs["WebSocketUrl"].split("//")[1].split(".")[0]
    http_id = result.outputs["HttpUrl"].split("//")[1].split(".")[0]
    token = json.loads((tmp_path / "deploys" / "e2e.json").read_text())["token"]

    frames = asyncio.run(
        _stream_while_ingesting(
            f"{ministack.replace('http', 'ws')}/_aws/execute-api/{ws_id}/live",
            f"{ministack}/_aws/execute-api/{http_id}/ingest",
            token,
        )
    )

    hello, snapshot, event = frames
    assert isinstance(hello, Hello) and hello.server.endswith("(aws)")
    assert isinstance(snapshot, Snapshot) and snapshot.seq == hello.seq
    assert isinstance(event, EventMessage) and event.seq == hello.seq + 1
    assert (event.data["instance"], event.data["value"]) == ("e2e-host", 12.5)

    assert destroy("e2e", progress, confirm=lambda name: True, session=session) is True


async def _stream_while_ingesting(ws_url: str, ingest_url: str, token: str) -> list[object]:
    client = StreamClient(ws_url, token=token, max_retries=3)
    received: list[object] = []

    async def read() -> None:
        async for message in client.messages():
            if isinstance(message, StateChange):
                continue
            received.append(message)
            if isinstance(message, Snapshot):
                await asyncio.to_thread(_post, ingest_url, token)
            if isinstance(message, EventMessage):
                return

    try:
        await asyncio.wait_for(read(), timeout=60)
    finally:
        await client.close()
    return received


def _post(url: str, token: str) -> None:
    point = {
        "instance": "e2e-host",
        "metric": "cpu",
        "unit": "%",
        "ts": datetime.now(UTC).isoformat(),
        "value": 12.5,
    }
    request = urllib.request.Request(
        url,
        data=json.dumps([point]).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202
