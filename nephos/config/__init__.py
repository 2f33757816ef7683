"""Configuration as code: find, read and validate ``nephos.yaml`` into frozen dataclasses.

The public surface is here; the YAML walking, schema sections and reload watcher live in the
submodules. Nothing outside ``nephos.config`` sees YAML.
"""

from __future__ import annotations

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
