"""Provider options in the config file: checked by each provider class, errors with file:line."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from nephos.clock import ManualClock
from nephos.config import parse_config
from nephos.errors import ConfigError
from nephos.providers import build_providers
from nephos.providers.aws import AwsProvider
from nephos.providers.static import StaticProvider


def load(text: str) -> object:
    return parse_config(textwrap.dedent(text).lstrip("\n"), file="nephos.yaml", env={})


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return str(caught.value)


def test_aws_and_static_options_are_cleaned_with_defaults() -> None:
    config = parse_config(
        textwrap.dedent(
            """
            providers:
              aws: {regions: [us-east-1, eu-west-1, us-east-1], profiles: prod, interval: 1m}
              static:
                instances: [{name: nas, public_ip: 192.0.2.7}]
              demo: {seed: 7}
            """
        ),
        file="nephos.yaml",
        env={},
    )
    assert config.providers["aws"] == {
        "regions": ("us-east-1", "eu-west-1"),
        "profiles": ("prod",),
        "endpoint_url": None,
        "max_attempts": 3,
        "page_size": 1000,
        "interval": timedelta(minutes=1),
    }
    (nas,) = config.providers["static"]["instances"]
    assert (nas["id"], nas["public_ips"], nas["state"]) == ("nas", ("192.0.2.7",), "running")
    assert config.providers["demo"] == {"seed": 7}  # the demo command reads its own options


def test_the_registry_builds_one_provider_per_configured_name_but_demo() -> None:
    config = parse_config(
        "providers:\n  static: {}\n  aws: {regions: [us-east-1]}\n  demo: {}\n", env={}
    )
    built = build_providers(config, clock=ManualClock())
    assert [type(p) for p in built] == [AwsProvider, StaticProvider]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            """
            providers:
              aws:
                regions: [us-east-1]
                region: us-east-1
            """,
            "nephos.yaml:4: providers.aws.region: unknown key (did you mean regions?)",
        ),
        (
            """
            providers:
              aws:
                regions:
                  - us-east-1
                  - useast2
            """,
            'nephos.yaml:5: providers.aws.regions[1]: "useast2" is not an AWS region '
            "(e.g. us-east-1)",
        ),
        (
            """
            providers:
              aws:
                endpoint-url: localhost:5000
            """,
            'nephos.yaml:3: providers.aws.endpoint-url: "localhost:5000" is not an http:// '
            "or https:// URL",
        ),
        (
            """
            providers:
              aws: {max_attempts: 0}
            """,
            "nephos.yaml:2: providers.aws.max_attempts: must be at least 1, got 0",
        ),
        (
            """
            providers:
              static:
                instances:
                  - name: web
                  - name: db
                    tags:
                      role: [db]
            """,
            "nephos.yaml:7: providers.static.instances[1].tags.role: expected text, got a list",
        ),
        (
            """
            providers:
              static:
                instances:
                  - {name: web, state: asleep}
            """,
            "nephos.yaml:4: providers.static.instances[0].state: 'asleep' is not one of",
        ),
        (
            """
            providers:
              static:
                interval: 5s
            """,
            'nephos.yaml:3: providers.static.interval: "5s" is too short (minimum 10s)',
        ),
        (
            """
            providers:
              aws:
                interval: soon
            """,
            'nephos.yaml:3: providers.aws.interval: "soon" is not a duration',
        ),
    ],
)
def test_bad_provider_options_name_file_line_and_key(text: str, error: str) -> None:
    assert error_of(text).startswith(error)


def test_config_validate_exits_3_with_the_location_of_a_bad_provider_option(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "nephos.yaml"
    path.write_text("providers:\n  static:\n    instances:\n      - {name: a, public_ip: x}\n")
    env = {k: v for k, v in os.environ.items() if k != "NEPHOS_CONFIG"}

    done = subprocess.run(
        [sys.executable, "-m", "nephos", "config", "validate", "-c", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 3
    assert done.stderr.strip() == (
        f'nephos: {path}:4: providers.static.instances[0].public_ip: "x" is not an IP address'
    )
