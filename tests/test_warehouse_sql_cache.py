"""The on-disk cache of sqlglot's answers: a warm cache spares a fresh process sqlglot, and its
answers are exactly what live transpiling gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nephos.errors import WarehouseError
from nephos.warehouse import sql_binds
from nephos.warehouse.sql_binds import find_binds, to_duckdb
from nephos.warehouse.sql_cache import ENV_VAR, cache_dir
from nephos.warehouse.sql_loader import SqlLibrary

SQL = "SELECT data:host::string AS host FROM t WHERE ts >= :since AND x = :since"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "sql-cache"
    monkeypatch.setenv(ENV_VAR, str(folder))
    to_duckdb.cache_clear()  # the per-process layer would hide the disk
    yield folder
    to_duckdb.cache_clear()


def _fresh_process(code: str, folder: Path) -> list[str]:
    env = {**os.environ, ENV_VAR: str(folder)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_a_fresh_process_with_a_warm_cache_transpiles_without_importing_sqlglot(
    cache: Path,
) -> None:
    code = (
        "import sys\n"
        "from nephos.warehouse.sql_binds import find_binds, to_duckdb\n"
        f"print(repr(to_duckdb({SQL!r})))\n"
        f"print(repr(find_binds({SQL!r}, 'here')))\n"
        "print('sqlglot' in sys.modules)\n"
    )
    cold = _fresh_process(code, cache)
    warm = _fresh_process(code, cache)
    assert cold[-1] == "True"
    assert warm[-1] == "False"
    assert warm[:2] == cold[:2] == [repr(to_duckdb(SQL)), repr(find_binds(SQL, "here"))]


def test_every_shipped_statement_reads_back_from_the_cache_as_live_transpiling_gives(
    cache: Path,
) -> None:
    library = SqlLibrary()
    texts = library.ddl() + [library.statement(n).sql for n in library.names()]
    for text in texts:
        to_duckdb(text)  # stores it
    to_duckdb.cache_clear()
    assert len(list(cache.glob("duckdb-*.json"))) == len(set(texts))
    for text in texts:
        assert to_duckdb(text) == sql_binds._transpile(text)


def test_a_damaged_entry_is_computed_again_and_repaired(cache: Path) -> None:
    expected = to_duckdb(SQL)
    for entry in cache.glob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    to_duckdb.cache_clear()
    assert to_duckdb(SQL) == expected
    assert find_binds(SQL, "here") == sql_binds._find_binds(SQL, "here")
    for entry in cache.glob("duckdb-*.json"):
        assert json.loads(entry.read_text(encoding="utf-8"))["text"] == SQL


def test_an_entry_of_the_wrong_shape_is_a_miss(cache: Path) -> None:
    expected = to_duckdb(SQL)
    (entry,) = cache.glob("duckdb-*.json")
    entry.write_text(json.dumps({"text": SQL, "value": [1, ["since"]]}), encoding="utf-8")
    to_duckdb.cache_clear()
    assert to_duckdb(SQL) == expected


def test_a_statement_that_does_not_transpile_is_an_error_every_time_and_not_stored(
    cache: Path,
) -> None:
    for _ in range(2):
        with pytest.raises(WarehouseError, match="cannot transpile"):
            to_duckdb("CREATE TABLE t (x NO_SUCH_TYPE)")
    assert not list(cache.glob("duckdb-*.json"))


def test_an_unwritable_cache_directory_still_transpiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(blocker / "cache"))
    to_duckdb.cache_clear()
    assert to_duckdb(SQL) == sql_binds._transpile(SQL)
    to_duckdb.cache_clear()


def test_an_empty_env_var_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "")
    assert cache_dir() is None


def test_the_default_cache_lives_under_the_user_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "nephos" / "duckdb-sql"
