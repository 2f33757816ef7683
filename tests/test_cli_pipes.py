"""``nephos … | head``: a reader that goes away early ends the command quietly with exit 0.

Each test runs a real ``python -m nephos`` whose stdout pipe is closed before it writes, so
that its first write meets a broken pipe (the same as ``head`` exiting after its lines).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run_into_a_closed_pipe(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEPHOS_", "AWS_"))}
    env.update(HOME=str(tmp_path), NO_COLOR="1", NEPHOS_CONFIG=str(_config(tmp_path)))
    process = subprocess.Popen(
        [sys.executable, "-m", "nephos", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first line is written
    stderr = process.stderr.read()
    return process.wait(timeout=60), stderr


def _config(tmp_path: Path) -> Path:
    """An embedded store and warehouse that are not there yet: the commands still print."""
    path = tmp_path / "nephos.yaml"
    path.write_text(
        "storage:\n"
        f"  hot: {{backend: sqlite, path: {tmp_path / 'hot.db'}}}\n"
        f"  warehouse: {{backend: duckdb, path: {tmp_path / 'wh.duckdb'}}}\n"
    )
    return path


@pytest.mark.parametrize(
    "args",
    [["--help"], ["summary", "--help"], ["summary"], ["summary", "--json"], ["trend", "cpu"]],
    ids=["help", "command-help", "rich-text", "json", "chart"],
)
def test_a_reader_that_leaves_early_ends_the_command_quietly_with_exit_0(
    args: list[str], tmp_path: Path
) -> None:
    code, stderr = _run_into_a_closed_pipe(tmp_path, *args)
    assert (code, stderr) == (0, "")


def test_an_error_still_exits_with_its_code_when_stdout_is_closed(tmp_path: Path) -> None:
    code, stderr = _run_into_a_closed_pipe(tmp_path, "summary", "--since", "banana")
    assert code == 3
    assert stderr.startswith("nephos: --since")
