"""Configuration as code: find, read and validate ``nephos.yaml`` into frozen dataclasses.

The public surface is here; the YAML walking, schema sections and reload watcher live in the
submodules. Nothing outside ``nephos.config`` sees YAML.

The submodules load on first use of one of their names (PEP 562), so importing
``nephos.config.types`` or one constant does not pay for the YAML loader, every schema
section and the reload watcher (about 0.1 s of a command's start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nephos.config.loader import (
        ENV_VAR,
        default_config,
        find_config_file,
        load_config,
        parse_config,
        search_paths,
    )
    from nephos.config.reload import ConfigWatcher
    from nephos.config.types import (
        Config,
        HotStoreConfig,
        HubConfig,
        NotifierConfig,
        SentinelConfig,
        StorageConfig,
        WarehouseConfig,
    )
    from nephos.config.values import format_duration, parse_duration, parse_size

__all__ = [
    "ENV_VAR",
    "Config",
    "ConfigWatcher",
    "HotStoreConfig",
    "HubConfig",
    "NotifierConfig",
    "SentinelConfig",
    "StorageConfig",
    "WarehouseConfig",
    "default_config",
    "find_config_file",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "search_paths",
]

# Each public name and the submodule that defines it.
_HOMES = {
    "ENV_VAR": "loader",
    "default_config": "loader",
    "find_config_file": "loader",
    "load_config": "loader",
    "parse_config": "loader",
    "search_paths": "loader",
    "ConfigWatcher": "reload",
    "Config": "types",
    "HotStoreConfig": "types",
    "HubConfig": "types",
    "NotifierConfig": "types",
    "SentinelConfig": "types",
    "StorageConfig": "types",
    "WarehouseConfig": "types",
    "format_duration": "values",
    "parse_duration": "values",
    "parse_size": "values",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access, then keep the value here.

    Raises:
        AttributeError: ``name`` is not part of the public surface.
    """
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
