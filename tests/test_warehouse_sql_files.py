"""The warehouse SQL files: the package ships snowflake/ itself, and every file loads.

snowflake/ is the one source; nephos/warehouse/sql is a link to it, which a built wheel
turns into the files themselves.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlglot

from nephos.warehouse.sql_binds import to_duckdb
from nephos.warehouse.sql_loader import SqlLibrary, split_statements, sql_root

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "snowflake"
PACKAGED = REPO / "nephos" / "warehouse" / "sql"


def _sql_files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.sql"))
    }


def test_the_packaged_sql_is_the_snowflake_dir_itself() -> None:
    assert PACKAGED.is_symlink() and PACKAGED.resolve() == SOURCE.resolve()


def test_a_source_checkout_reads_sql_from_the_snowflake_dir() -> None:
    assert sql_root() == SOURCE


@pytest.mark.parametrize("name", SqlLibrary(SOURCE).names())
def test_every_analytics_statement_loads_parses_and_transpiles(name: str) -> None:
    stmt = SqlLibrary(SOURCE).statement(name)
    sqlglot.parse_one(stmt.sql, read="snowflake")
    duck_sql, order = to_duckdb(stmt.sql)
    assert sorted(set(order)) == sorted(set(stmt.binds))
    assert duck_sql.count("?") == len(order)


def test_every_ddl_statement_parses_as_snowflake_sql() -> None:
    for path in sorted((SOURCE / "ddl").glob("*.sql")):
        for statement in split_statements(path.read_text(encoding="utf-8")):
            sqlglot.parse_one(statement, read="snowflake")


def test_an_installed_wheel_ships_and_finds_the_sql(tmp_path: Path) -> None:
    """Build the wheel from a copy of the project, unpack it, and load SQL from it alone."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (project / name).write_bytes((REPO / name).read_bytes())
    for folder in ("nephos", "snowflake"):  # the package's sql link points into snowflake/
        subprocess.run(["cp", "-R", str(REPO / folder), str(project / folder)], check=True)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(project)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    wheel = next(wheels.glob("nephos-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "nephos/warehouse/sql/ddl/010_events.sql" in names
        assert "nephos/warehouse/sql/analytics/metric_series.sql" in names
        site = tmp_path / "site"
        zf.extractall(site)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from nephos.warehouse.sql_loader import SqlLibrary, sql_root;"
        "lib = SqlLibrary(); print(sql_root());"
        "print(len(lib.ddl()), 'metric_series' in lib.names())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(site)], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    assert out[0] == str(site / "nephos" / "warehouse" / "sql")
    assert out[1].split()[1] == "True" and int(out[1].split()[0]) >= 6


def test_warehouse_floats_differing_only_in_summation_order_come_out_equal() -> None:
    import random

    from nephos.warehouse.runtime import plain

    rng = random.Random(3)
    values = [rng.uniform(0, 1000) for _ in range(100_000)]
    forward = sum(sorted(values)) / len(values)
    backward = sum(sorted(values, reverse=True)) / len(values)
    assert forward != backward  # the order of additions shows in the last bits
    assert plain(forward) == plain(backward)
    assert plain(707.5974999999999) == plain(707.5975000000001)
