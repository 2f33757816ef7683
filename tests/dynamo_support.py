"""Fixtures for the DynamoDB hot store tests: one moto server per session on 127.0.0.1.

Modules use them with ``pytest_plugins = ["tests.dynamo_support"]``. Each test starts on an
emptied server, and each store gets its own table prefix.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from nephos.config.types import HotStoreConfig

__all__ = ["aws_env", "dynamo_config", "moto_endpoint", "moto_url"]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto server on an ephemeral loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_url(moto_endpoint: str) -> str:
    """The moto server, emptied of what earlier tests made (moto copies every table on each
    transaction, so leftovers would slow every later test)."""
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10):
        pass
    return moto_endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and a region; no profile, shared config or instance metadata."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def dynamo_config(moto_url: str, aws_env: None) -> Callable[..., HotStoreConfig]:
    """Configs for fresh stores on the emptied moto server: each gets its own table prefix
    and creates its tables on open; keyword arguments override options."""

    def build(**options: object) -> HotStoreConfig:
        base: dict[str, object] = {
            "table_prefix": f"t{uuid.uuid4().hex[:12]}-",
            "endpoint_url": moto_url,
            "region": "us-east-1",
            "create_tables": True,
        }
        return HotStoreConfig(backend="dynamodb", path="", options={**base, **options})

    return build
