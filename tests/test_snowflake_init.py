"""``nephos snowflake init``: the golden script, sqlglot parses of it, the schema on fakesnow.

fakesnow cannot run procedures, tasks or SNOWFLAKE.ML, so the full script is compared with
tests/golden/snowflake_init.sql (made from fixed statements in tests/golden/analytics/, so
that editing a real analytics statement does not churn it) and every part sqlglot knows is
parsed. Regenerate the golden file with
``NEPHOS_UPDATE_GOLDEN=1 pytest tests/test_snowflake_init.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
import sqlglot

from nephos.cli.main import main
from nephos.deploy.snowflake_setup import (
    SetupOptions,
    apply_script,
    build_script,
    inline_params,
)
from nephos.errors import ConfigError, WarehouseError
from nephos.warehouse.sql_loader import SqlLibrary
from tests.warehouse_fixtures import FAKESNOW_SETTINGS, fakesnow_warehouse

pytestmark = pytest.mark.filterwarnings("ignore:Arrow output:UserWarning")

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
CONFIG = """\
storage:
  warehouse:
    backend: snowflake
    database: NEPHOS
    schema: HISTORY
    task_warehouse: NEPHOS_WH
"""


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No connections.toml or SNOWFLAKE_* variables from the machine running the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in list(os.environ):
        if name.startswith("SNOWFLAKE_"):
            monkeypatch.delenv(name)
    config = tmp_path / "nephos.yaml"
    config.write_text(CONFIG)
    return config


@pytest.fixture
def golden_sql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project's DDL, procedure, task and ML files with the fixed golden statements."""
    root = tmp_path / "sql"
    for folder in ("ddl", "procedures", "tasks", "ml"):
        shutil.copytree(REPO / "snowflake" / folder, root / folder)
    shutil.copytree(GOLDEN / "analytics", root / "analytics")
    monkeypatch.setenv("NEPHOS_SQL_DIR", str(root))
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_dry_run_prints_the_golden_script(
    isolated: Path, golden_sql: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "snowflake", "init", "--dry-run", "--with-ml", "-c", str(isolated))
    assert code == 0, err
    golden = GOLDEN / "snowflake_init.sql"
    if os.environ.get("NEPHOS_UPDATE_GOLDEN"):
        golden.write_text(out)
    assert out == golden.read_text(), "regenerate with NEPHOS_UPDATE_GOLDEN=1 if intended"


def test_dry_run_needs_no_account_and_no_ml_leaves_models_out(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "snowflake", "init", "--dry-run", "-c", str(isolated))
    assert code == 0
    assert "CREATE SCHEMA IF NOT EXISTS NEPHOS.HISTORY;" in out
    assert "SCHEDULE = '15 MINUTES'" in out
    assert "SCHEDULE = 'USING CRON 0 */12 * * * UTC'" in out
    assert "WAREHOUSE = NEPHOS_WH" in out
    assert "SNOWFLAKE.ML" not in out


def test_the_real_script_parses_wherever_sqlglot_knows_the_syntax(isolated: Path) -> None:
    """Tables, views and each scheduled statement (as inlined in its procedure) parse; tasks,
    procedures and ML models are at least split into whole statements."""
    library = SqlLibrary(REPO / "snowflake")
    script = build_script(library, SetupOptions(schema="NEPHOS.HISTORY", with_ml=True))
    for statement in script.schema + [s for s in script.ml if "VIEW" in s or "TABLE" in s]:
        sqlglot.parse_one(statement, read="snowflake")
    marked = [library.statement(n) for n in library.names()]
    for stmt in (s for s in marked if s.alerts):
        inlined = inline_params(stmt)
        sqlglot.parse_one(inlined, read="snowflake")
        assert f"'{stmt.name}', OBJECT_CONSTRUCT(*)" in "\n".join(script.procedures)
    for statement in script.statements():
        assert statement.rstrip().endswith(";")
        assert statement.count("$$") % 2 == 0


def test_each_marked_statement_runs_in_its_sources_procedure_only(golden_sql: Path) -> None:
    script = build_script(SqlLibrary(golden_sql), SetupOptions())
    detect, forecast = script.procedures
    assert "'spikes'" in detect and "'disk_full'" not in detect
    assert "'disk_full'" in forecast and "'spikes'" not in forecast
    assert "series_count" not in detect + forecast
    assert "CAST(DATEADD('hour', -1, :run_at) AS TIMESTAMP_NTZ)" in detect
    assert "CAST(3 AS DOUBLE) * sd" in detect


def test_a_marked_statement_with_a_bind_without_default_cannot_be_scheduled(
    golden_sql: Path,
) -> None:
    (golden_sql / "analytics" / "bad.sql").write_text(
        "-- @param instance VARCHAR\n-- @alerts anomaly\nSELECT * FROM metrics "
        "WHERE instance = :instance\n"
    )
    with pytest.raises(WarehouseError, match=r"bad is marked @alerts but :instance"):
        build_script(SqlLibrary(golden_sql), SetupOptions())


def test_a_schema_name_that_is_not_an_identifier_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a plain Snowflake identifier"):
        SetupOptions.from_settings({"schema": "x; DROP TABLE y"}, with_ml=False)


def test_the_schema_part_runs_on_fakesnow_twice() -> None:
    script = build_script(SqlLibrary(), SetupOptions())
    with fakesnow_warehouse() as wh:
        assert asyncio.run(apply_script(wh, script.schema)) == len(script.schema)
        assert asyncio.run(apply_script(wh, script.schema)) == len(script.schema)
        rows = asyncio.run(
            wh.execute(
                "SELECT LOWER(table_name) FROM information_schema.tables "
                "WHERE LOWER(table_schema) = 'history' ORDER BY 1"
            )
        )
    assert [r[0] for r in rows] == [
        "alerts", "analytics_alerts", "etl_checkpoints", "events", "instances", "metrics",
        "results",
    ]  # fmt: skip


def test_fakesnow_refuses_the_procedures_with_a_line_naming_the_statement() -> None:
    script = build_script(SqlLibrary(), SetupOptions())
    with fakesnow_warehouse() as wh, pytest.raises(WarehouseError) as info:
        asyncio.run(apply_script(wh, script.procedures))
    assert "statement 1 (CREATE OR REPLACE PROCEDURE nephos_detect_anomalies()" in str(info.value)


def test_schema_only_init_creates_the_tables_through_the_cli(
    isolated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import fakesnow

    keys = "".join(f"    {k}: {v}\n" for k, v in FAKESNOW_SETTINGS.items())
    isolated.write_text("storage:\n  warehouse:\n    backend: snowflake\n" + keys)
    with fakesnow.patch():
        code, out, err = run(
            capsys, "snowflake", "init", "--schema-only", "--json", "-c", str(isolated)
        )
    assert code == 0, err
    assert json.loads(out) == {"statements": 9, "schema": "nephos.history", "tasks": []}
    assert "ok  CREATE TABLE IF NOT EXISTS metrics (" in err
    assert "not-a-secret" not in out + err


def test_init_without_an_account_is_a_configuration_error(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolated.write_text("storage:\n  warehouse:\n    backend: snowflake\n")
    code, _, err = run(capsys, "snowflake", "init", "-c", str(isolated))
    assert code == 3
    assert "no Snowflake account" in err


def test_an_unknown_connection_is_a_configuration_error(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "snowflake", "init", "--dry-run", "--connection", "nope", "-c", str(isolated)
    )
    assert code == 3
    assert "no Snowflake connection [nope]" in err


def test_unreachable_snowflake_exits_4_with_one_line(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolated.write_text(
        "storage:\n  warehouse:\n    backend: snowflake\n    account: acme\n    user: u\n"
        "    password: pw\n    host: 127.0.0.1\n    port: 9\n    protocol: http\n"
        "    login_timeout: 2\n"
    )
    code, _, err = run(capsys, "snowflake", "init", "--schema-only", "-c", str(isolated))
    assert code == 4
    assert err.startswith("nephos: Snowflake (acme): cannot connect")
    assert len(err.strip().splitlines()) == 1
    assert "pw" not in err.replace("pwd", "")


def test_sql_dir_override_is_read(golden_sql: Path) -> None:
    assert "spikes" in SqlLibrary().names()
