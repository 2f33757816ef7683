"""The SQL loader: statement headers, binds told apart from JSON paths, transpiling to DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from nephos.errors import WarehouseError
from nephos.warehouse.sql_binds import bind_named, bind_positional_duckdb, to_duckdb
from nephos.warehouse.sql_loader import SqlLibrary, split_statements

STATEMENT = """\
-- Points of one series since :since.
-- @param since TIMESTAMP_NTZ = DATEADD('hour', -24, :now)
-- @param instance VARCHAR
-- @example instance = 'vm-1'
-- @alerts anomaly
SELECT data:host::string AS host, tags[0]:team, ts, value
FROM metrics
WHERE ts >= :since AND instance=:instance AND note <> ':not_a_bind' -- :nor_this
  AND ts < DATEADD('day', 1, :since)
"""


@pytest.fixture
def library(tmp_path: Path) -> SqlLibrary:
    (tmp_path / "analytics").mkdir()
    (tmp_path / "ddl").mkdir()
    (tmp_path / "analytics" / "series.sql").write_text(STATEMENT)
    (tmp_path / "analytics" / "two.sql").write_text("SELECT 1;\nSELECT 2;\n")
    (tmp_path / "analytics" / "undeclared.sql").write_text("-- @param a INTEGER\nSELECT :a + :b\n")
    return SqlLibrary(tmp_path)


def test_a_statement_header_gives_description_params_examples_and_alert_source(
    library: SqlLibrary,
) -> None:
    stmt = library.statement("series")
    assert stmt.description == "Points of one series since :since."
    assert [(p.name, p.type, p.default) for p in stmt.params] == [
        ("since", "TIMESTAMP_NTZ", "DATEADD('hour', -24, :now)"),
        ("instance", "VARCHAR", None),
    ]
    assert stmt.examples == {"instance": "'vm-1'"}
    assert stmt.alerts == "anomaly"


def test_binds_are_found_in_order_and_json_paths_strings_and_comments_are_left_alone(
    library: SqlLibrary,
) -> None:
    stmt = library.statement("series")
    assert stmt.binds == ("since", "instance", "since")
    assert "data:host::string" in stmt.snowflake_sql
    assert "tags[0]:team" in stmt.snowflake_sql
    assert "':not_a_bind'" in stmt.snowflake_sql and "-- :nor_this" in stmt.snowflake_sql
    assert "ts >= ? AND instance=? AND" in stmt.snowflake_sql


def test_bind_gives_qmark_args_with_aware_times_as_naive_utc(library: SqlLibrary) -> None:
    since = datetime(2026, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    bound = library.statement("series").bind({"since": since, "instance": "vm-1"})
    naive = datetime(2026, 1, 1, 12, 0)
    assert bound.args == (naive, "vm-1", naive)


def test_a_missing_or_unknown_param_is_a_warehouse_error(library: SqlLibrary) -> None:
    stmt = library.statement("series")
    with pytest.raises(WarehouseError, match="no value for :instance"):
        stmt.bind({"since": datetime.now(UTC)})
    with pytest.raises(WarehouseError, match="has no bind :limit"):
        stmt.bind_duckdb({"since": 1, "instance": "x", "limit": 3})


def test_a_file_with_two_statements_or_undeclared_binds_is_refused(library: SqlLibrary) -> None:
    with pytest.raises(WarehouseError, match="holds 2 statements"):
        library.statement("two")
    with pytest.raises(WarehouseError, match="binds without an @param line: b"):
        library.statement("undeclared")


def test_an_unknown_or_unsafe_name_is_refused(library: SqlLibrary) -> None:
    with pytest.raises(WarehouseError, match="unknown analytics statement"):
        library.statement("../ddl/x")


def test_duckdb_gets_snowflake_semantics_for_json_text_and_null_order(
    library: SqlLibrary,
) -> None:
    sql, order = to_duckdb("SELECT v:k::string, x FROM t ORDER BY x DESC")
    assert "->>" in sql and "NULLS FIRST" in sql
    assert order == ()


def test_duckdb_binds_follow_the_transpiled_text(library: SqlLibrary) -> None:
    bound = library.statement("series").bind_duckdb({"since": 5, "instance": "vm-1"})
    assert bound.sql.count("?") == 3
    assert bound.args == (5, "vm-1", 5)


def test_positional_binds_keep_their_order_through_transpiling() -> None:
    bound = bind_positional_duckdb("SELECT IFF(? > 0, ?, ?)", (1, "yes", "no"))
    assert bound.sql == "SELECT CASE WHEN ? > 0 THEN ? ELSE ? END"
    assert bound.args == (1, "yes", "no")
    with pytest.raises(WarehouseError, match="2 args were given"):
        bind_positional_duckdb("SELECT ? + ?, ?", (1, 2))


def test_bind_named_turns_any_text_into_qmarks() -> None:
    bound = bind_named("SELECT DATEADD('day', -3, :now)", {"now": 7, "unused": 1})
    assert bound == type(bound)("SELECT DATEADD('day', -3, ?)", (7,))


def test_variant_columns_become_json_in_duckdb_ddl() -> None:
    sql, _ = to_duckdb("CREATE TABLE t (seq BIGINT, ts TIMESTAMP_NTZ, data VARIANT)")
    assert sql == "CREATE TABLE t (seq BIGINT, ts TIMESTAMP, data JSON)"


def test_scripts_split_at_line_end_semicolons_outside_dollar_bodies() -> None:
    script = """\
-- a comment only
CREATE TABLE a (x INT);
CREATE PROCEDURE p() RETURNS VARCHAR LANGUAGE SQL AS
$$
BEGIN
  INSERT INTO a VALUES (1);
  RETURN 'ok';
END;
$$;
-- trailing comment
"""
    parts = split_statements(script)
    assert len(parts) == 2
    assert parts[0].endswith("CREATE TABLE a (x INT);")
    assert parts[1].startswith("CREATE PROCEDURE") and parts[1].endswith("$$;")


def test_the_ddl_column_types_are_read_from_the_sql() -> None:
    types = SqlLibrary().column_types()
    assert types["metrics"]["value"] == "DOUBLE"
    assert types["events"]["data"] == "VARIANT"
