"""``nephos init`` and ``nephos config validate`` on valid files, through the real CLI."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

STARTER = pathlib.Path(__file__).resolve().parent.parent / "config" / "starter.yaml"


def run_cli(
    *args: str, cwd: pathlib.Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "NEPHOS_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "nephos", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_writes_the_starter_then_validate_accepts_it(tmp_path: pathlib.Path) -> None:
    created = run_cli("init", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "nephos.yaml").read_text() == STARTER.read_text()
    checked = run_cli("config", "validate", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "ok: 5 targets, 1 notifiers (nephos.yaml)\n"


def test_init_refuses_to_overwrite_without_force(tmp_path: pathlib.Path) -> None:
    (tmp_path / "nephos.yaml").write_text("# mine\n")
    refused = run_cli("init", "nephos.yaml", cwd=tmp_path)
    assert refused.returncode == 3
    assert refused.stderr == "nephos: nephos.yaml already exists (use --force to overwrite)\n"
    assert (tmp_path / "nephos.yaml").read_text() == "# mine\n"
    forced = run_cli("init", "nephos.yaml", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert (tmp_path / "nephos.yaml").read_text().startswith("# nephos starter config")


def test_init_creates_missing_directories_and_keeps_the_file_private(
    tmp_path: pathlib.Path,
) -> None:
    result = run_cli("init", "deep/er/nephos.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "deep" / "er" / "nephos.yaml"
    assert written.stat().st_mode & 0o777 == 0o600


def test_validate_finds_the_file_through_nephos_config(tmp_path: pathlib.Path) -> None:
    (tmp_path / "elsewhere.yaml").write_text(STARTER.read_text())
    result = run_cli(
        "config", "validate", "--json", cwd=tmp_path, env={"NEPHOS_CONFIG": "elsewhere.yaml"}
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "ok": True,
        "file": "elsewhere.yaml",
        "targets": 5,
        "notifiers": 1,
    }


def test_validate_without_any_file_says_where_it_looked(tmp_path: pathlib.Path) -> None:
    result = run_cli("config", "validate", cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert result.returncode == 3
    assert result.stderr == (
        f"nephos: no config file found (looked for nephos.yaml, "
        f"{tmp_path}/.config/nephos/nephos.yaml; try nephos init)\n"
    )


def test_init_writes_where_nephos_config_points_so_the_other_commands_find_it(
    tmp_path: pathlib.Path,
) -> None:
    target = tmp_path / "etc" / "nephos.yaml"
    created = run_cli("init", cwd=tmp_path, env={"NEPHOS_CONFIG": str(target)})
    assert created.returncode == 0, created.stderr
    assert target.read_text() == STARTER.read_text()
    assert not (tmp_path / "nephos.yaml").exists()
    checked = run_cli("config", "validate", cwd=tmp_path, env={"NEPHOS_CONFIG": str(target)})
    assert checked.returncode == 0, checked.stderr


def test_init_path_argument_wins_over_config(tmp_path: pathlib.Path) -> None:
    created = run_cli("init", "here.yaml", "-c", "there.yaml", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "here.yaml").exists()
    assert not (tmp_path / "there.yaml").exists()
