"""The static provider: instances declared in the config, and how their options are checked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nephos.clock import ManualClock
from nephos.errors import ConfigError
from nephos.model import InstanceState
from nephos.providers.static import StaticProvider

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def static(instances: list[Any]) -> StaticProvider:
    options = StaticProvider.validate_options({"instances": instances})
    return StaticProvider(options, clock=ManualClock(NOW))


async def test_declared_instances_are_listed_running_unless_a_state_is_given() -> None:
    provider = static(
        [
            {
                "name": "web-1",
                "public_ip": "203.0.113.5",
                "region": "home",
                "tags": {"role": "web"},
            },
            {"id": "db", "name": "db-1", "state": "Stopped", "private_ip": ["10.0.0.2", "fd00::2"]},
        ]
    )

    web, db = await provider.list_instances()

    assert (web.provider, web.id, web.name, web.state) == (
        "static",
        "web-1",
        "web-1",
        InstanceState.RUNNING,
    )
    assert (web.public_ips, web.region, web.tags, web.updated_at) == (
        ("203.0.113.5",),
        "home",
        {"role": "web"},
        NOW,
    )
    assert (db.id, db.state, db.raw_state) == ("db", InstanceState.STOPPED, "stopped")
    assert db.private_ips == ("10.0.0.2", "fd00::2")


async def test_no_instances_lists_nothing() -> None:
    provider = StaticProvider(StaticProvider.validate_options({}), clock=ManualClock())
    assert await provider.list_instances() == []


async def test_tag_values_are_read_as_text() -> None:
    tags = {"tier": 1, "public": True, "note": None}
    (box,) = await static([{"name": "box", "tags": tags}]).list_instances()
    assert box.tags == {"tier": "1", "public": "true", "note": ""}


@pytest.mark.parametrize(
    ("options", "path", "message"),
    [
        ({"hosts": []}, "hosts", "unknown key (known keys: instances)"),
        ({"instances": {"name": "x"}}, "instances", "expected a list, got a mapping"),
        ({"instances": ["web"]}, "instances[0]", 'expected a mapping of options, got "web"'),
        ({"instances": [{"id": "x"}]}, "instances[0]", "missing required key name"),
        ({"instances": [{"name": "a", "colour": "red"}]}, "instances[0].colour", "unknown key"),
        ({"instances": [{"name": "a", "public-ip": "1.2.3"}]}, "instances[0].public-ip",
         '"1.2.3" is not an IP address'),
        ({"instances": [{"name": "a", "private-ip": ["10.0.0.1", "nope"]}]},
         "instances[0].private-ip[1]", '"nope" is not an IP address'),
        ({"instances": [{"name": "a", "state": "asleep"}]}, "instances[0].state",
         "'asleep' is not one of pending, running"),
        ({"instances": [{"name": "a", "tags": ["x"]}]}, "instances[0].tags",
         "expected a mapping, got a list"),
        ({"instances": [{"name": "a"}, {"name": "a"}]}, "instances[1].name",
         "id 'a' is already used by instances[0]"),
    ],
)  # fmt: skip
def test_bad_options_are_config_errors_with_their_key_path(
    options: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        StaticProvider.validate_options(options)
    assert caught.value.path == path
    assert caught.value.message.startswith(message)
    assert caught.value.file is None  # the loader adds the file and line
