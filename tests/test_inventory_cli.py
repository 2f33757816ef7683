"""``nephos inventory`` as a user runs it: a subprocess reading a moto server over real HTTP."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-secret",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_url: str) -> str:
    """The moto server, emptied of what earlier tests made."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    return moto_url


def run_cli(*args: str, tmp_path: pathlib.Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NEPHOS_"))}
    isolated = {
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
    }
    return subprocess.run(
        [sys.executable, "-m", "nephos", "inventory", *args],
        cwd=tmp_path,
        env={**base, **FAKE_ENV, **isolated},
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_config(tmp_path: pathlib.Path, aws_endpoint: str) -> pathlib.Path:
    path = tmp_path / "nephos.yaml"
    path.write_text(
        f"""
providers:
  aws: {{regions: [us-east-1, eu-west-1], endpoint_url: "{aws_endpoint}", max_attempts: 1}}
  static:
    instances:
      - {{name: "[bold]nas[/bold]", public_ip: 192.0.2.7, tags: {{note: "line1\\nline2"}}}}
      - {{name: pi, state: maintenance}}
"""
    )
    return path


def launch(endpoint: str, region: str, name: str) -> str:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint, **_keys())
    answer = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}],
    )
    return str(answer["Instances"][0]["InstanceId"])


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_json_lists_every_provider_s_instances_with_health_tallies(
    endpoint: str, tmp_path: pathlib.Path
) -> None:
    web = launch(endpoint, "us-east-1", "web")
    db = launch(endpoint, "eu-west-1", "db")
    boto3.client("ec2", region_name="eu-west-1", endpoint_url=endpoint, **_keys()).stop_instances(
        InstanceIds=[db]
    )

    done = run_cli("--json", "-c", str(write_config(tmp_path, endpoint)), tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    rows = {(i["provider"], i["name"]): i for i in document["instances"]}
    nas = ("static", "[bold]nas[/bold]")
    assert set(rows) == {("aws", "web"), ("aws", "db"), nas, ("static", "pi")}
    assert rows[nas]["tags"] == {"note": "line1\nline2"}  # data, kept as it came
    assert (rows["aws", "web"]["id"], rows["aws", "web"]["region"]) == (web, "us-east-1")
    assert (rows["aws", "web"]["state"], rows["aws", "web"]["health_signal"]) == ("running", "ok")
    assert (rows["aws", "db"]["state"], rows["aws", "db"]["health"]) == ("stopped", "unhealthy")
    assert rows["aws", "web"]["memory_mb"] == 1024
    tallies = {p["provider"]: p for p in document["providers"]}
    assert {k: tallies["aws"][k] for k in ("available", "healthy", "total", "percent")} == {
        "available": True,
        "healthy": 1,
        "total": 2,
        "percent": 50.0,
    }
    assert (tallies["static"]["degraded"], tallies["static"]["health"]) == (1, "degraded")


def test_the_table_shows_glyphs_and_words_and_prints_untrusted_text_literally(
    endpoint: str, tmp_path: pathlib.Path
) -> None:
    launch(endpoint, "us-east-1", "web")

    done = run_cli("-c", str(write_config(tmp_path, endpoint)), tmp_path=tmp_path)

    assert done.returncode == 0, done.stderr
    lines = [line.rstrip() for line in done.stdout.splitlines()]
    assert "\x1b[" not in done.stdout  # no colour on a pipe
    assert any("[bold]nas[/bold]" in line and "● running" in line for line in lines)
    assert any(" pi " in line and "▲ maintenance" in line for line in lines)
    assert any(line.startswith("aws") and "● healthy" in line and "1/1 healthy (100%)" in line
               for line in lines)  # fmt: skip
    assert any(line.startswith("static") and "▲ degraded" in line and "1/2 healthy (50%)" in line
               for line in lines)  # fmt: skip


def test_only_the_named_provider_is_polled(endpoint: str, tmp_path: pathlib.Path) -> None:
    launch(endpoint, "us-east-1", "web")
    config = str(write_config(tmp_path, endpoint))

    only_static = run_cli("--json", "--provider", "static", "-c", config, tmp_path=tmp_path)
    unknown = run_cli("--provider", "gcp", "-c", config, tmp_path=tmp_path)

    assert only_static.returncode == 0, only_static.stderr
    document = json.loads(only_static.stdout)
    assert [p["provider"] for p in document["providers"]] == ["static"]
    assert {i["provider"] for i in document["instances"]} == {"static"}
    assert unknown.returncode == 3
    assert unknown.stderr.strip() == (
        "nephos: provider 'gcp' is not configured (configured: aws, static)"
    )


def test_every_provider_unavailable_exits_4_with_the_reasons(tmp_path: pathlib.Path) -> None:
    port = closed_port()
    config = tmp_path / "nephos.yaml"
    config.write_text(
        f"providers:\n  aws: {{regions: [us-east-1], endpoint_url: "
        f'"http://127.0.0.1:{port}", max_attempts: 1}}\n'
    )

    as_json = run_cli("--json", "-c", str(config), tmp_path=tmp_path)
    as_text = run_cli("-c", str(config), tmp_path=tmp_path)

    assert as_json.returncode == 4
    (aws,) = json.loads(as_json.stdout)["providers"]
    assert (aws["available"], aws["reason"]) == (
        False,
        f"aws us-east-1: cannot reach 127.0.0.1:{port}",
    )
    assert as_text.returncode == 4
    assert f"✕ unavailable  aws us-east-1: cannot reach 127.0.0.1:{port}" in as_text.stdout
    assert as_text.stderr.strip() == (
        f"nephos: no provider answered: aws us-east-1: cannot reach 127.0.0.1:{port}"
    )


def test_the_cli_loads_without_boto3() -> None:
    code = "import sys, nephos.cli.main; print(sorted({'boto3', 'botocore'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_no_providers_configured_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "nephos.yaml").write_text("targets: []\n")
    done = run_cli("-c", str(tmp_path / "nephos.yaml"), tmp_path=tmp_path)
    assert done.returncode == 3
    assert done.stderr.strip() == (
        "nephos: no providers configured: add a providers section to the config"
    )


def test_colour_is_used_on_a_terminal_and_never_alone(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "nephos.yaml"
    config.write_text(
        "providers:\n  static:\n    instances: [{name: web}, {name: db, state: error}]\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "NEPHOS_CONFIG")}

    def run(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "nephos", "inventory", "-c", str(config)],
            env={**base, "COLUMNS": "120", **env},
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    coloured = run(FORCE_COLOR="1")
    plain = run(FORCE_COLOR="1", NO_COLOR="1")

    assert "\x1b[32m● running" in coloured and "\x1b[31m✕ error" in coloured
    assert "\x1b[3" not in plain and "● running" in plain and "✕ error" in plain
