"""``nephos --help`` stays fast: the CLI loads no heavy library until a command runs."""

from __future__ import annotations

import subprocess
import sys

# Libraries that cost tens or hundreds of milliseconds to import; each command that needs one
# imports it inside the function that runs.
HEAVY = (
    "aiohttp",
    "azure",
    "boto3",
    "botocore",
    "duckdb",
    "google",
    "numpy",
    "snowflake",
    "textual",
    "websockets",
)


def test_importing_the_cli_loads_none_of_the_heavy_libraries() -> None:
    code = (
        "import nephos.cli.main, sys; "
        f"heavy = set({HEAVY!r}); "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_help_lists_every_command_without_loading_a_heavy_library() -> None:
    code = (
        "import sys\n"
        "from nephos.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = set({HEAVY!r})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "sentinel" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
