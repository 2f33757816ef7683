"""Finding the Snowflake connection (connections.toml, env, config), key-pair auth, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from snowflake.connector.errors import DatabaseError, ProgrammingError

from nephos.config.types import WarehouseConfig
from nephos.errors import ConfigError
from nephos.warehouse import open_warehouse
from nephos.warehouse.snowflake import SnowflakeWarehouse
from nephos.warehouse.snowflake_conn import (
    connect_args,
    map_error,
    redacted,
    resolve_connection,
)

TOML = """
default_connection_name = "fallback"

[dev]
account = "myorg-dev"
user = "alice"
password = "dev-secret"
warehouse = "DEV_WH"
database = "NEPHOS"
schema = "HISTORY"

[prod]
account = "myorg-prod"
user = "svc_nephos"
private_key_path = "~/keys/nephos.p8"
role = "NEPHOS_ROLE"

[fallback]
account = "myorg-fallback"
user = "bob"
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".snowflake").mkdir()
    (tmp_path / ".snowflake" / "connections.toml").write_text(TOML)
    return tmp_path


def test_a_named_connection_comes_from_connections_toml(home: Path) -> None:
    settings = resolve_connection({"connection": "dev"}, env={}, home=home)
    assert settings == {
        "account": "myorg-dev",
        "user": "alice",
        "password": "dev-secret",
        "warehouse": "DEV_WH",
        "database": "NEPHOS",
        "schema": "HISTORY",
    }


def test_the_snowflake_cli_key_names_are_understood(home: Path) -> None:
    settings = resolve_connection({"connection": "prod"}, env={}, home=home)
    assert settings["private_key_file"] == "~/keys/nephos.p8"
    assert settings["role"] == "NEPHOS_ROLE"


def test_the_default_connection_is_chosen_by_env_then_config_toml_then_the_file(
    home: Path,
) -> None:
    env = {"SNOWFLAKE_DEFAULT_CONNECTION_NAME": "dev"}
    assert resolve_connection({}, env=env, home=home)["account"] == "myorg-dev"
    assert resolve_connection({}, env={}, home=home)["account"] == "myorg-fallback"
    (home / ".snowflake" / "config.toml").write_text('default_connection_name = "prod"\n')
    assert resolve_connection({}, env={}, home=home)["account"] == "myorg-prod"


def test_environment_overrides_the_file_and_options_override_both(home: Path) -> None:
    env = {"SNOWFLAKE_USER": "carol", "SNOWFLAKE_WAREHOUSE": "ENV_WH"}
    settings = resolve_connection({"connection": "dev", "warehouse": "CFG_WH"}, env=env, home=home)
    assert (settings["user"], settings["warehouse"]) == ("carol", "CFG_WH")


def test_snowflake_home_points_at_another_folder(tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "connections.toml").write_text('[default]\naccount = "acme"\nuser = "u"\n')
    env = {"SNOWFLAKE_HOME": str(folder)}
    assert resolve_connection({}, env=env, home=tmp_path / "nohome")["account"] == "acme"


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    env = {"SNOWFLAKE_ACCOUNT": "acme", "SNOWFLAKE_USER": "u", "SNOWFLAKE_PASSWORD": "pw"}
    assert resolve_connection({}, env=env, home=tmp_path) == {
        "account": "acme",
        "user": "u",
        "password": "pw",
    }


def test_an_unknown_connection_name_is_a_config_error_listing_the_known(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"no Snowflake connection \[staging\].*dev, prod"):
        resolve_connection({"connection": "staging"}, env={}, home=home)


def test_no_account_anywhere_is_a_config_error_saying_where_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SNOWFLAKE_ACCOUNT"):
        resolve_connection({}, env={}, home=tmp_path)


def test_a_broken_connections_toml_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ".snowflake").mkdir()
    (tmp_path / ".snowflake" / "connections.toml").write_text("[dev\naccount=")
    with pytest.raises(ConfigError, match=r"connections\.toml"):
        resolve_connection({}, env={}, home=tmp_path)


def _key_file(path: Path, passphrase: bytes | None) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return key


def test_key_pair_auth_loads_an_encrypted_key_as_der_and_uses_jwt(tmp_path: Path) -> None:
    key = _key_file(tmp_path / "k.p8", b"s3cret-pass")
    args = connect_args(
        {
            "account": "a",
            "user": "u",
            "private_key_file": str(tmp_path / "k.p8"),
            "private_key_file_pwd": "s3cret-pass",
        }
    )
    expected = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert args["private_key"] == expected
    assert args["authenticator"] == "SNOWFLAKE_JWT"
    assert args["paramstyle"] == "qmark"
    assert "private_key_file" not in args and "private_key_file_pwd" not in args


def test_a_wrong_passphrase_is_a_config_error_without_the_passphrase(tmp_path: Path) -> None:
    _key_file(tmp_path / "k.p8", b"right-pass")
    with pytest.raises(ConfigError) as info:
        connect_args({"account": "a", "private_key_file": str(tmp_path / "k.p8"),
                      "private_key_file_pwd": "wrong-pass"})  # fmt: skip
    assert "passphrase is wrong" in str(info.value)
    assert "wrong-pass" not in str(info.value)


def test_an_encrypted_key_without_a_passphrase_says_what_to_set(tmp_path: Path) -> None:
    _key_file(tmp_path / "k.p8", b"right-pass")
    with pytest.raises(ConfigError, match="encrypted: set private_key_file_pwd"):
        connect_args({"account": "a", "private_key_file": str(tmp_path / "k.p8")})


def test_a_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"private key file .*missing\.p8"):
        connect_args({"account": "a", "private_key_file": str(tmp_path / "missing.p8")})


def test_secrets_are_redacted_for_display() -> None:
    shown = redacted({"account": "a", "password": "pw", "private_key_file_pwd": "x"})
    assert shown == {"account": "a", "password": "***", "private_key_file_pwd": "***"}


def test_login_failures_map_to_one_actionable_line() -> None:
    exc = DatabaseError(msg="Incorrect username or password was specified.", errno=390100)
    error = map_error(exc, "connect", "myorg-dev")
    assert str(error).startswith("Snowflake (myorg-dev): cannot connect: authentication failed")
    assert error.exit_code == 4


def test_a_missing_object_points_at_snowflake_init() -> None:
    exc = ProgrammingError(msg="Object 'METRICS' does not exist or not authorized.", errno=2003)
    assert "nephos snowflake init" in str(map_error(exc, "run metric_series", "a"))


@pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")
def test_the_registry_opens_snowflake_from_connections_toml(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fakesnow

    monkeypatch.setenv("SNOWFLAKE_HOME", str(home / ".snowflake"))
    cfg = WarehouseConfig(backend="snowflake", options={"connection": "dev"})
    wh = open_warehouse(cfg)
    assert isinstance(wh, SnowflakeWarehouse)
    assert wh.account == "myorg-dev"
    with fakesnow.patch():
        asyncio.run(wh.open())
        try:
            assert asyncio.run(wh.get_checkpoint("etl")) == 0
        finally:
            asyncio.run(wh.close())
