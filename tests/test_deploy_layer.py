"""The dependencies layer of the ETL and sentinel Lambdas: the imports it is worked out from,
the manylinux wheels pip fetches for it (when PyPI is reachable), the deterministic zip, and
that what the handlers import resolves from it."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nephos.deploy.aws_layer import (
    LAYER_EXCLUDED,
    LAYER_SIZE_LIMIT,
    LayerArtifact,
    LayerSpec,
    build_layer_zip,
    fetch_layer_wheels,
    layer_architecture,
    layer_download_command,
    layer_modules,
    layer_requirements,
    layer_spec,
    wants_layer,
)
from nephos.deploy.aws_package import build_code_zip
from nephos.deploy.aws_template import check_parameters, load_template
from nephos.errors import BackendError, UsageError

INFRA = Path(__file__).resolve().parents[1] / "infra"


def _tops(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


# ------------------------------------------------------------------ without the network


def test_the_layer_holds_what_the_etl_and_sentinel_import_but_not_boto3() -> None:
    modules = layer_modules(INFRA)
    requirements, constraints = layer_requirements(modules)

    assert {"snowflake", "cryptography", "aiohttp", "dns", "OpenSSL", "yaml"} <= _tops(modules)
    names = {r.partition("==")[0] for r in requirements}
    assert {"snowflake-connector-python", "cryptography", "aiohttp", "dnspython"} <= names
    assert not names & LAYER_EXCLUDED
    assert not {c.partition("==")[0] for c in constraints} & LAYER_EXCLUDED
    assert all("==" in r for r in requirements)  # pinned to what is installed here
    assert "nephos" not in names and "handlers" not in _tops(modules)


def test_registry_modules_named_by_string_are_followed() -> None:
    # Providers are imported as f"nephos.providers.{name}": their drivers count too.
    modules = layer_modules(INFRA)

    assert "google.auth" in modules and "azure.identity" in modules


def test_the_layer_is_built_only_when_etl_or_sentinel_is_on_and_not_overridden() -> None:
    template = load_template(INFRA / "template.yaml")

    assert not wants_layer(template, {})
    assert wants_layer(template, {"EnableEtl": "true"})
    assert wants_layer(template, {"EnableSentinel": "true"})
    assert not wants_layer(
        template, {"EnableEtl": "true", "DependenciesLayerArn": "arn:aws:lambda:x:1:layer:d:3"}
    )
    assert not wants_layer({"Parameters": {}}, {"EnableEtl": "true"})  # an older template
    with pytest.raises(UsageError, match="LayerKey: filled in by nephos deploy"):
        check_parameters(template, {"LayerKey": "mine.zip"})


def test_the_architecture_follows_the_functions() -> None:
    template = load_template(INFRA / "template.yaml")
    assert layer_architecture(template) == "x86_64"
    template["Resources"]["EtlFunction"]["Properties"]["Architectures"] = ["arm64"]
    assert layer_architecture(template) == "arm64"


def test_wheels_are_fetched_as_manylinux_cp312_binaries_for_the_architecture(
    tmp_path: Path,
) -> None:
    spec = LayerSpec(("aiohttp==3.0",), ("yarl==1.0",))

    command = layer_download_command(spec, tmp_path, tmp_path / "c.txt")
    arm = layer_download_command(LayerSpec((), (), "arm64"), tmp_path, None)

    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--only-binary=:all:" in command and "--no-deps" not in command
    assert command[command.index("--platform") + 1] == "manylinux2014_x86_64"
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert command[command.index("--constraint") + 1] == str(tmp_path / "c.txt")
    assert command[-1] == "aiohttp==3.0"
    assert "manylinux2014_aarch64" in arm and "--constraint" not in arm


def _wheel(directory: Path, name: str, files: dict[str, str]) -> Path:
    path = directory / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as built:
        for member, text in files.items():
            built.writestr(member, text)
        built.writestr(f"{name}-1.0.dist-info/RECORD", "")
    return path


def test_the_zip_is_deterministic_trimmed_and_under_python(tmp_path: Path) -> None:
    wheels = [
        _wheel(
            tmp_path,
            "alpha",
            {
                "alpha/__init__.py": "A = 1\n",
                "alpha/__init__.pyi": "A: int\n",
                "alpha/__pycache__/x.cpython-312.pyc": "",
                "alpha/tests/test_a.py": "",
                "alpha-1.0.data/purelib/alpha_extra.py": "",
                "alpha-1.0.data/scripts/alpha": "",
            },
        ),
        _wheel(tmp_path, "beta", {"beta.py": "B = 2\n"}),
        _wheel(tmp_path, "botocore", {"botocore/__init__.py": ""}),
    ]

    first = build_layer_zip(wheels, prefix="s")
    second = build_layer_zip(list(reversed(wheels)), prefix="s")

    assert first.data == second.data and first.key == f"s/layer-{first.sha256[:20]}.zip"
    names = zipfile.ZipFile(_saved(first, tmp_path)).namelist()
    assert names == sorted(names)
    assert set(names) == {
        "python/alpha/__init__.py",
        "python/alpha-1.0.dist-info/RECORD",
        "python/alpha_extra.py",
        "python/beta.py",
        "python/beta-1.0.dist-info/RECORD",
    }
    assert first.distributions == ("alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl")


def _saved(artifact: LayerArtifact, directory: Path) -> Path:
    path = directory / "layer.zip"
    path.write_bytes(artifact.data)
    return path


def test_a_finished_download_is_reused_from_the_cache(tmp_path: Path) -> None:
    spec = LayerSpec(("alpha==1.0",), ())
    cached = tmp_path / f"layer-{spec.key}"
    cached.mkdir()
    _wheel(cached, "alpha", {"alpha/__init__.py": ""})
    (cached / "complete.json").write_text("[]")

    found = fetch_layer_wheels(spec, tmp_path, report=_refuse)

    assert [w.name for w in found] == ["alpha-1.0-py3-none-any.whl"]
    assert LayerSpec(("alpha==1.1",), ()).key != spec.key  # keyed by the requirement set


def _refuse(message: str) -> None:
    raise AssertionError(f"nothing should be fetched: {message}")


# ------------------------------------------------------------------ the real wheels (PyPI)


@pytest.fixture(scope="session")
def real_layer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LayerArtifact]]:
    """The real layer, its wheels fetched once per session (or from NEPHOS_WHEEL_CACHE)."""
    explicit = os.environ.get("NEPHOS_WHEEL_CACHE")
    cache = Path(explicit) if explicit else tmp_path_factory.mktemp("wheels")
    spec = layer_spec(INFRA, load_template(INFRA / "template.yaml"))
    try:
        wheels = fetch_layer_wheels(spec, cache, report=print)
    except BackendError as exc:
        reason = f"PyPI is not reachable to fetch the layer's wheels: {exc}"
        print(reason)
        pytest.skip(reason)
    artifact = build_layer_zip(wheels)
    unpacked = tmp_path_factory.mktemp("layer")
    with zipfile.ZipFile(_saved(artifact, tmp_path_factory.mktemp("zip"))) as zipped:
        zipped.extractall(unpacked)
    print(
        f"layer: {len(artifact.distributions)} wheels, {artifact.unzipped_size / 2**20:.1f} MiB "
        f"unzipped, {len(artifact.data) / 2**20:.1f} MiB zipped"
    )
    yield unpacked / "python", artifact


def test_the_real_layer_fits_lambda_and_carries_no_waste(
    real_layer: tuple[Path, LayerArtifact],
) -> None:
    site, artifact = real_layer

    assert artifact.unzipped_size < LAYER_SIZE_LIMIT
    assert not (site / "boto3").exists() and not (site / "botocore").exists()
    assert not list(site.rglob("__pycache__")) and not list(site.rglob("*.pyc"))
    assert any(p.name.startswith("cryptography-") for p in site.glob("*.dist-info"))
    compiled = list((site / "cryptography").rglob("*.so"))
    assert compiled and all(p.suffix == ".so" for p in compiled)


def _resolves(site: Path, dotted: str) -> bool:
    path = site.joinpath(*dotted.split("."))
    if path.is_dir() or path.with_suffix(".py").is_file():
        return True
    return any(path.parent.glob(f"{path.name}.*.so"))  # a compiled module (cp312, abi3)


def test_every_import_of_the_handlers_resolves_from_the_layer(
    real_layer: tuple[Path, LayerArtifact],
) -> None:
    site, _ = real_layer
    needed = [m for m in layer_modules(INFRA) if m.split(".")[0] not in ("boto3", "botocore")]

    # "from a.b import C" lists a.b.C: C is a module or an attribute of the module a.b.
    missing = [
        m for m in needed if not _resolves(site, m) and not _resolves(site, m.rpartition(".")[0])
    ]
    assert missing == []
    assert all(_resolves(site, top) for top in _tops(needed))


_IMPORT_CHECK = """
import importlib, importlib.abc, sys
code, layer, runtime = sys.argv[1:4]
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
class Refuse(importlib.abc.MetaPathFinder):
    # Only the standard library and the runtime's boto3 besides the code zip and the layer.
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in RUNTIME or top in ("nephos", "handlers"):
            return None
        import os
        if os.path.exists(os.path.join(layer, top)) or os.path.exists(
            os.path.join(layer, top + ".py")
        ):
            return None
        raise ImportError(f"neither in the runtime nor in the layer: {name}")
sys.meta_path.insert(0, Refuse())
sys.path[:0] = [code, layer]
sys.path.append(runtime)
for name in ("etl", "sentinel"):
    assert callable(importlib.import_module(f"handlers.{name}").handler)
# The pure-Python parts of the layer import under this Python (its compiled wheels are cp312).
for name in ("dns.asyncresolver", "sqlglot", "prometheus_client", "yaml", "httpx",
             "google.auth", "websockets.asyncio.client", "nephos.config"):
    module = importlib.import_module(name)
    assert module.__file__.startswith((layer, code)), (name, module.__file__)
print("ok")
"""


def test_handlers_and_pure_python_layer_parts_import_from_zip_and_layer(
    real_layer: tuple[Path, LayerArtifact], tmp_path: Path
) -> None:
    site, _ = real_layer
    code = tmp_path / "task"
    zipfile.ZipFile(_saved_code(tmp_path)).extractall(code)

    done = subprocess.run(
        [sys.executable, "-S", "-c", _IMPORT_CHECK, str(code), str(site), _purelib()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _saved_code(directory: Path) -> Path:
    path = directory / "code.zip"
    path.write_bytes(build_code_zip(INFRA).data)
    return path


def _purelib() -> str:
    return sysconfig.get_paths()["purelib"]
