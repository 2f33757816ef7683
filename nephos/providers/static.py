"""The static provider: machines declared in the config file, for bare hosts and the rest.

Nothing is polled; every listed instance is reported as written, ``running`` unless the
config gives another state.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from nephos.errors import ConfigError
from nephos.model import Instance, InstanceState
from nephos.providers.base import Provider
from nephos.providers.options import OptionReader

__all__ = ["StaticProvider"]

_INSTANCE_KEYS = frozenset(
    {"id", "name", "region", "zone", "public_ip", "private_ip", "size", "tags", "state",
     "health_signal"}
)  # fmt: skip
_STATES = tuple(state.value for state in InstanceState)


class StaticProvider(Provider):
    """Instances listed under ``providers.static.instances``.

    Each entry takes ``name`` (required), ``id`` (default: the name), ``region``, ``zone``,
    ``public_ip`` and ``private_ip`` (one address or a list), ``size``, ``tags`` (a mapping),
    ``state`` (default ``running``) and ``health_signal``.
    """

    name = "static"

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``providers.static``; the result holds the instances as dicts of clean values.

        Raises:
            ConfigError: an unknown key, a missing name, a bad address or state, or two
                instances with one id.
        """
        reader = OptionReader(options, {"instances"})
        instances: list[dict[str, Any]] = []
        first_path: dict[str, str] = {}
        for path, item in reader.mappings("instances"):
            entry = _read_instance(OptionReader(item, _INSTANCE_KEYS, path=path))
            if entry["id"] in first_path:
                raise ConfigError(
                    f"id {entry['id']!r} is already used by {first_path[entry['id']]}",
                    path=f"{path}.id" if "id" in item else f"{path}.name",
                )
            first_path[entry["id"]] = path
            instances.append(entry)
        return {"instances": tuple(instances)}

    async def list_instances(self) -> list[Instance]:
        """The configured instances, stamped with the current time."""
        now = self.clock.now()
        return [
            Instance(
                provider=self.name,
                id=entry["id"],
                name=entry["name"],
                state=InstanceState(entry["state"]),
                raw_state=entry["state"],
                region=entry["region"],
                zone=entry["zone"],
                public_ips=tuple(entry["public_ips"]),
                private_ips=tuple(entry["private_ips"]),
                size=entry["size"],
                tags=dict(entry["tags"]),
                health_signal=entry["health_signal"],
                updated_at=now,
            )
            for entry in self.options.get("instances", ())
        ]


def _read_instance(reader: OptionReader) -> dict[str, Any]:
    name = reader.text("name", required=True)
    assert name is not None  # required
    return {
        "id": reader.text("id") or name,
        "name": name,
        "region": reader.text("region"),
        "zone": reader.text("zone"),
        "public_ips": _addresses(reader, "public_ip"),
        "private_ips": _addresses(reader, "private_ip"),
        "size": reader.text("size"),
        "tags": reader.text_mapping("tags"),
        "state": _state(reader),
        "health_signal": reader.text("health_signal"),
    }


def _state(reader: OptionReader) -> str:
    state = (reader.text("state") or "running").lower()
    if state not in _STATES:
        raise reader.error("state", f"{state!r} is not one of {', '.join(_STATES)}")
    return state


def _addresses(reader: OptionReader, key: str) -> tuple[str, ...]:
    addresses = reader.texts(key)
    for index, address in enumerate(addresses):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            where = reader.path_of(key)
            if isinstance(reader.get(key), list):
                where += f"[{index}]"
            raise ConfigError(f'"{address}" is not an IP address', path=where) from None
    return addresses
