"""The Lambda code zip: deterministic, holding the handlers and nephos without its faces, the
bundled wheels unpacked, and importable with nothing but what the Lambda runtime provides."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from nephos.deploy.aws_package import (
    LAMBDA_PLATFORM,
    build_code_zip,
    pip_download_command,
)

INFRA = Path(__file__).resolve().parents[1] / "infra"


def test_the_same_sources_give_the_same_bytes_and_key() -> None:
    first = build_code_zip(INFRA, prefix="s")
    second = build_code_zip(INFRA, prefix="s")

    assert first.data == second.data
    assert first.key == second.key == f"s/{first.sha256[:20]}.zip"


def test_the_zip_holds_handlers_and_the_core_but_not_the_cli_or_tui(tmp_path: Path) -> None:
    archive = build_code_zip(INFRA)
    (tmp_path / "code.zip").write_bytes(archive.data)
    names = zipfile.ZipFile(tmp_path / "code.zip").namelist()

    assert {"handlers/ingest.py", "handlers/broadcast.py", "handlers/connections.py"} <= set(names)
    assert {"nephos/model.py", "nephos/store/dynamodb.py", "nephos/stream/protocol.py"} <= set(
        names
    )
    assert not [n for n in names if n.startswith(("nephos/cli/", "nephos/tui/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert names == sorted(names)
    # The warehouse SQL (nephos/warehouse/sql links to snowflake/ in a checkout) goes along.
    assert {"nephos/warehouse/sql/ddl/010_events.sql"} <= set(names)


def test_bundled_wheels_are_unpacked_into_the_zip(tmp_path: Path) -> None:
    wheel = tmp_path / "tiny_dep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as built:
        built.writestr("tiny_dep/__init__.py", "VALUE = 1\n")
        built.writestr("tiny_dep-1.0.dist-info/METADATA", "Name: tiny-dep\nVersion: 1.0\n")

    archive = build_code_zip(INFRA, wheels=[wheel])
    (tmp_path / "code.zip").write_bytes(archive.data)

    names = zipfile.ZipFile(tmp_path / "code.zip").namelist()
    assert "tiny_dep/__init__.py" in names
    assert archive.key != build_code_zip(INFRA).key


def test_wheels_are_fetched_pinned_for_the_python_3_12_lambda_runtime(tmp_path: Path) -> None:
    from importlib.metadata import version

    command = pip_download_command(["orjson"], tmp_path)

    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--only-binary=:all:" in command and "--no-deps" in command
    platform = command[command.index("--platform") + 1]
    assert platform == LAMBDA_PLATFORM["platform"] == "manylinux2014_x86_64"
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[-1] == f"orjson=={version('orjson')}"


_IMPORT_CHECK = """
import importlib.abc, sys
ALLOWED = set(sys.stdlib_module_names) | {
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six",
    "orjson", "nephos", "handlers",
}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ImportError(f"not in the Lambda runtime: {name}")
        return None
sys.meta_path.insert(0, Refuse())
sys.path.insert(0, sys.argv[1])
sys.path.append(sys.argv[2])
for name in ("ingest", "connections", "broadcast", "etl", "sentinel"):
    module = __import__(f"handlers.{name}", fromlist=["handler"])
    assert callable(module.handler)
import nephos.store.dynamodb, nephos.deploy.aws_live
import nephos
assert nephos.__file__.startswith(sys.argv[1]), nephos.__file__
print("ok")
"""


def test_handlers_import_with_only_the_lambda_runtime_and_the_zip(tmp_path: Path) -> None:
    archive = build_code_zip(INFRA)
    task = tmp_path / "task"
    (tmp_path / "code.zip").write_bytes(archive.data)
    zipfile.ZipFile(tmp_path / "code.zip").extractall(task)

    # -S: no site-packages and no .pth files (so not the editable nephos); boto3 and orjson
    # are appended by hand, standing in for the runtime and the bundled wheel.
    done = subprocess.run(
        [sys.executable, "-S", "-c", _IMPORT_CHECK, str(task), sysconfig.get_paths()["purelib"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
