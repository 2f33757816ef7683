"""How nephos finds its Snowflake connection: connections.toml, the environment, the config.

Resolution, later sources winning: the named table of ``connections.toml`` (the file the
Snowflake CLI and connector use: ``$SNOWFLAKE_HOME/connections.toml``, else
``~/.snowflake/connections.toml``, else ``~/.config/snowflake/connections.toml``), then
``SNOWFLAKE_*`` environment variables, then ``storage.warehouse.options``. The connection name
comes from the options (``connection``), else ``SNOWFLAKE_DEFAULT_CONNECTION_NAME``, else
``default_connection_name`` (config.toml or connections.toml), else a table named
``default``. Auth is a password or a key pair (a PEM private key file with an optional
passphrase). Secrets are never put in messages. Also: Snowflake errors mapped to one line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nephos.errors import ConfigError, WarehouseError

__all__ = [
    "CONNECT_KEYS",
    "OPTION_KEYS",
    "connect_args",
    "connections_file",
    "map_error",
    "redacted",
    "resolve_connection",
]

CONNECT_KEYS = (
    "account", "user", "password", "authenticator", "token", "private_key_file",
    "private_key_file_pwd", "role", "warehouse", "database", "schema", "host", "port",
    "protocol", "login_timeout", "network_timeout",
)  # fmt: skip
"""The connection settings nephos passes on (names as in connections.toml)."""

_ALIASES = {
    "private_key_path": "private_key_file",
    "private_key_passphrase": "private_key_file_pwd",
    "username": "user",
}
_ENV = {
    "SNOWFLAKE_ACCOUNT": "account",
    "SNOWFLAKE_USER": "user",
    "SNOWFLAKE_PASSWORD": "password",
    "SNOWFLAKE_AUTHENTICATOR": "authenticator",
    "SNOWFLAKE_TOKEN": "token",
    "SNOWFLAKE_PRIVATE_KEY_PATH": "private_key_file",
    "SNOWFLAKE_PRIVATE_KEY_FILE": "private_key_file",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "private_key_file_pwd",
    "SNOWFLAKE_PRIVATE_KEY_FILE_PWD": "private_key_file_pwd",
    "SNOWFLAKE_ROLE": "role",
    "SNOWFLAKE_WAREHOUSE": "warehouse",
    "SNOWFLAKE_DATABASE": "database",
    "SNOWFLAKE_SCHEMA": "schema",
    "SNOWFLAKE_HOST": "host",
}
_SECRET_KEYS = frozenset({"password", "token", "private_key_file_pwd", "private_key"})


def _snowflake_dirs(env: Mapping[str, str], home: Path) -> list[Path]:
    if env.get("SNOWFLAKE_HOME"):
        return [Path(env["SNOWFLAKE_HOME"]).expanduser()]
    return [home / ".snowflake", home / ".config" / "snowflake"]


def connections_file(env: Mapping[str, str], home: Path) -> Path | None:
    """The connections.toml in use, or None when there is none."""
    for folder in _snowflake_dirs(env, home):
        if (folder / "connections.toml").is_file():
            return folder / "connections.toml"
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def _default_name(env: Mapping[str, str], home: Path, tables: Mapping[str, Any]) -> str | None:
    if env.get("SNOWFLAKE_DEFAULT_CONNECTION_NAME"):
        return env["SNOWFLAKE_DEFAULT_CONNECTION_NAME"]
    for folder in _snowflake_dirs(env, home):
        config = folder / "config.toml"
        if config.is_file():
            name = _read_toml(config).get("default_connection_name")
            if isinstance(name, str):
                return name
    name = tables.get("default_connection_name")
    if isinstance(name, str):
        return name
    return "default" if isinstance(tables.get("default"), Mapping) else None


def _normalised(source: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in source.items():
        name = _ALIASES.get(key.lower(), key.lower())
        if name in CONNECT_KEYS and value not in (None, ""):
            out[name] = value
    return out


OPTION_KEYS = frozenset({*CONNECT_KEYS, *_ALIASES, "connection", "task_warehouse"})
"""The keys ``storage.warehouse.options`` takes for the snowflake backend."""


def resolve_connection(
    options: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    require_account: bool = True,
) -> dict[str, Any]:
    """The merged connection settings (names as in connections.toml; secrets included).

    Raises:
        ConfigError: an option is unknown, a named connection does not exist,
            connections.toml does not parse, or no account is set anywhere (unless
            ``require_account`` is false).
    """
    unknown = sorted(set(options) - OPTION_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]} (snowflake takes {', '.join(sorted(OPTION_KEYS))})",
            path=f"storage.warehouse.options.{unknown[0]}",
        )
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    settings: dict[str, Any] = {}
    path = connections_file(env, home)
    tables = _read_toml(path) if path else {}
    name = options.get("connection") or _default_name(env, home, tables)
    if name:
        table = tables.get(str(name))
        if isinstance(table, Mapping):
            settings.update(_normalised(table))
        elif options.get("connection") or env.get("SNOWFLAKE_DEFAULT_CONNECTION_NAME"):
            where = str(path) if path else "~/.snowflake/connections.toml (missing)"
            known = ", ".join(k for k, v in tables.items() if isinstance(v, Mapping)) or "none"
            raise ConfigError(f"no Snowflake connection [{name}] in {where} (known: {known})")
    settings.update(_normalised({v: env[k] for k, v in _ENV.items() if env.get(k)}))
    settings.update(_normalised(options))
    if require_account and not settings.get("account") and not settings.get("host"):
        raise ConfigError(
            "no Snowflake account: add a connection to ~/.snowflake/connections.toml, set "
            "SNOWFLAKE_ACCOUNT, or set storage.warehouse.options.account",
            path="storage.warehouse.options",
        )
    return settings


def _private_key(path: str, passphrase: str | None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key_path = Path(path).expanduser()
    try:
        data = key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"private key file {key_path}: {exc.strerror or exc}") from exc
    secret = passphrase.encode() if passphrase else None
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError as exc:  # encrypted without a passphrase, or a passphrase for a plain key
        hint = "it is encrypted: set private_key_file_pwd" if not secret else "it is not encrypted"
        raise ConfigError(f"private key file {key_path}: {hint}") from exc
    except ValueError as exc:
        raise ConfigError(
            f"private key file {key_path}: not a PEM private key, or the passphrase is wrong"
        ) from exc
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def connect_args(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``snowflake.connector.connect`` (qmark binds, key loaded).

    Raises:
        ConfigError: the private key file is missing, unreadable or cannot be decrypted.
    """
    key_settings = ("private_key_file", "private_key_file_pwd")
    args = {k: v for k, v in settings.items() if k not in key_settings}
    if settings.get("private_key_file"):
        args["private_key"] = _private_key(
            str(settings["private_key_file"]), settings.get("private_key_file_pwd")
        )
        args.setdefault("authenticator", "SNOWFLAKE_JWT")
    if "port" in args:
        args["port"] = int(args["port"])
    args["paramstyle"] = "qmark"
    return args


def redacted(settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with every secret replaced, for display."""
    return {k: ("***" if k in _SECRET_KEYS else v) for k, v in settings.items()}


_HINTS = {
    390100: "authentication failed: check the user and password (or key)",
    390144: "key-pair authentication failed: is the public key set on the user "
    "(ALTER USER ... SET RSA_PUBLIC_KEY)?",
    250001: "cannot reach Snowflake: check the account identifier and the network",
    606: "no active warehouse: set `warehouse` in the connection",
    90105: "no current database: set `database` and `schema` in the connection",
    90106: "no current schema: set `schema` in the connection",
}


def map_error(exc: Exception, action: str, account: str | None) -> WarehouseError:
    """A Snowflake connector error as one actionable line (never with secrets or binds)."""
    errno = getattr(exc, "errno", None)
    where = f"Snowflake{f' ({account})' if account else ''}"
    hint = _HINTS.get(errno) if isinstance(errno, int) else None
    text = str(getattr(exc, "raw_msg", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    if hint:
        return WarehouseError(f"{where}: cannot {action}: {hint} ({first})")
    if errno == 2003:
        return WarehouseError(
            f"{where}: cannot {action}: {first} (run `nephos snowflake init`, or check the role)"
        )
    return WarehouseError(f"{where}: cannot {action}: {first}")
