"""The dependencies layer of the ETL and sentinel Lambdas: what they import, fetched and zipped.

The ETL and sentinel handlers reach compiled packages (the Snowflake connector, cryptography,
aiohttp, numpy...) that the code zip does not carry. :func:`layer_modules` works out which by
reading the handlers' imports, and the imports of every nephos module they can reach (also
those imported inside functions, and those a registry names as a string such as
``"nephos.notify.slack"`` or ``f"nephos.providers.{name}"``). :func:`layer_requirements` maps
the third-party ones to distributions pinned to the versions installed here;
:func:`fetch_layer_wheels` lets ``pip download`` resolve them, and their dependencies, as
manylinux wheels for CPython 3.12, into a cache directory keyed by the requirement set; and
:func:`build_layer_zip` unpacks them under ``python/`` into one deterministic zip, without
boto3 and botocore (the runtime's) nor tests, ``__pycache__`` and type stubs.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nephos.errors import BackendError, ConfigError

__all__ = [
    "LAYER_EXCLUDED",
    "LAYER_HANDLERS",
    "LAYER_SIZE_LIMIT",
    "LayerArtifact",
    "LayerSpec",
    "build_layer_zip",
    "fetch_layer_wheels",
    "layer_architecture",
    "layer_download_command",
    "layer_modules",
    "layer_requirements",
    "layer_spec",
    "wants_layer",
]

LAYER_HANDLERS = ("etl", "sentinel")
"""The handlers (modules of ``infra/handlers``) whose imports the layer provides."""
LAYER_EXCLUDED = frozenset({"boto3", "botocore", "s3transfer"})
"""Distributions the python3.12 runtime provides: fetched as dependencies, never zipped."""
LAYER_SIZE_LIMIT = 250 * 1024 * 1024
"""Lambda's limit on a function's unzipped code and layers together, in bytes."""
_PLATFORMS = {
    # Both tags: the python3.12 runtime (Amazon Linux 2023, glibc 2.34) runs either, and a
    # few projects publish only manylinux_2_28 wheels.
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_WASTE_DIRS = frozenset({"__pycache__", "tests"})
_WASTE_SUFFIXES = (".pyc", ".pyi")
_COMPLETE = "complete.json"


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """What to fetch: pinned requirements, constraints for their dependencies, the target."""

    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    architecture: str = "x86_64"
    python: str = "3.12"

    @property
    def key(self) -> str:
        """A hash of the whole spec: the cache directory's and nothing else's name."""
        text = json.dumps(
            [self.requirements, self.constraints, self.architecture, self.python]
        ).encode()
        return hashlib.sha256(text).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class LayerArtifact:
    """The built layer zip, its SHA-256, its S3 key and its unzipped size in bytes."""

    data: bytes
    sha256: str
    key: str
    unzipped_size: int
    distributions: tuple[str, ...]


# ------------------------------------------------------------------ what the handlers import


def _module_path(name: str, roots: Mapping[str, Path]) -> Path | None:
    parts = name.split(".")
    root = roots.get(parts[0])
    if root is None:
        return None
    base = root.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module name ``tree`` imports, at any depth, plus ``nephos.*`` string constants."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        elif (
            # Registries import by name: "nephos.notify.slack", f"nephos.providers.{name}".
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"nephos(\.\w+)+\.?", node.value)
        ):
            yield node.value


def layer_modules(infra_dir: Path, handlers: Sequence[str] = LAYER_HANDLERS) -> list[str]:
    """The third-party modules (dotted, as imported) that ``handlers`` can reach.

    Raises:
        ConfigError: a handler is missing from ``infra_dir/handlers``.
    """
    import nephos

    roots = {"handlers": infra_dir / "handlers", "nephos": Path(nephos.__file__).parent}
    todo = [f"handlers.{h}" for h in handlers]
    missing = [m for m in todo if _module_path(m, roots) is None]
    if missing:
        raise ConfigError(f"no handler module {', '.join(missing)} in {infra_dir}")
    seen: set[str] = set()
    found: set[str] = set()
    while todo:
        name = todo.pop()
        if name.endswith("."):  # a package whose every module a registry may import
            package = _module_path(name[:-1], roots)
            if package is not None and package.name == "__init__.py":
                todo.extend(f"{name}{p.stem}" for p in package.parent.glob("*.py"))
            continue
        if name in seen:
            continue
        seen.add(name)
        top = name.partition(".")[0]
        if top not in roots:
            if top not in sys.stdlib_module_names and top != "__future__":
                found.add(name)
            continue
        if "." in name:
            todo.append(name.rpartition(".")[0])  # importing a.b runs a/__init__ first
        path = _module_path(name, roots)
        if path is not None:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            todo.extend(_imports(tree, name, path.name == "__init__.py"))
    return sorted(found)


# ------------------------------------------------------------------ which distributions


@functools.cache
def _by_top() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _distributions_of(modules: Iterable[str]) -> set[str]:
    from importlib.metadata import distribution

    by_top = _by_top()
    names: set[str] = set()
    for module in modules:
        parts = module.split(".")
        candidates = by_top.get(parts[0], [])
        if len(candidates) > 1 and len(parts) > 1:
            # A namespace (google, azure): the distribution holding the subpackage.
            prefix = f"{parts[0]}/{parts[1]}"
            candidates = [
                c
                for c in candidates
                if any(str(f).startswith(prefix) for f in distribution(c).files or [])
            ] or candidates
        names.update(candidates)
    return names


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dependencies(dist: str) -> Iterator[str]:
    from importlib.metadata import PackageNotFoundError, requires

    try:
        found = requires(dist) or []
    except PackageNotFoundError:
        return
    for line in found:
        if "extra ==" in line.replace('"', "").replace("'", ""):
            continue  # an optional extra, which nobody asked for
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            yield match.group(0)


def layer_requirements(modules: Iterable[str]) -> tuple[list[str], list[str]]:
    """The distributions providing ``modules``, pinned to the versions installed here, and
    constraints pinning their dependencies likewise (the runtime's boto3 left out of both).

    A module no installed distribution provides is required by its top-level name, unpinned.
    """
    from importlib.metadata import PackageNotFoundError, version

    tops: set[str] = set()
    unknown: set[str] = set()
    for module in modules:
        found = _distributions_of([module])
        tops |= found
        if not found:
            unknown.add(module.split(".")[0])
    requirements: list[str] = []
    for dist in sorted(tops | unknown, key=_canonical):
        if _canonical(dist) in LAYER_EXCLUDED:
            continue
        try:
            requirements.append(f"{_canonical(dist)}=={version(dist)}")
        except PackageNotFoundError:
            requirements.append(_canonical(dist))
    # Constraints only pin: an entry pip does not need is ignored, so over-listing is safe.
    closure: set[str] = set()
    todo = list(tops)
    while todo:
        dist = _canonical(todo.pop())
        if dist in closure:
            continue
        closure.add(dist)
        todo.extend(_dependencies(dist))
    constraints: list[str] = []
    for dist in sorted(closure - {_canonical(t) for t in tops} - LAYER_EXCLUDED):
        try:
            constraints.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return requirements, constraints


def layer_architecture(template: Mapping[str, Any]) -> str:
    """``arm64`` when the template's ETL or sentinel function says so, else ``x86_64``."""
    resources = template.get("Resources", {})
    for name in ("EtlFunction", "SentinelFunction"):
        architectures = resources.get(name, {}).get("Properties", {}).get("Architectures", [])
        if "arm64" in architectures:
            return "arm64"
    return "x86_64"


def wants_layer(template: Mapping[str, Any], parameters: Mapping[str, str]) -> bool:
    """Whether the deploy should build the layer: the template takes one (``LayerKey``), the
    ETL or the sentinel is on, and no ``DependenciesLayerArn`` overrides it."""
    declared = template.get("Parameters", {})

    def value(name: str) -> str:
        return str(parameters.get(name, declared.get(name, {}).get("Default", "")))

    if "LayerKey" not in declared or value("DependenciesLayerArn"):
        return False
    return "true" in (value("EnableEtl"), value("EnableSentinel"))


def layer_spec(infra_dir: Path, template: Mapping[str, Any]) -> LayerSpec:
    """The layer the handlers in ``infra_dir`` need, for the template's architecture.

    Raises:
        ConfigError: a handler module is missing.
    """
    requirements, constraints = layer_requirements(layer_modules(infra_dir))
    return LayerSpec(tuple(requirements), tuple(constraints), layer_architecture(template))


# ------------------------------------------------------------------ fetch and zip


def layer_download_command(spec: LayerSpec, dest: Path, constraints: Path | None) -> list[str]:
    """The ``pip download`` of ``spec``'s wheels (and their dependencies') for the runtime."""
    platforms = [arg for p in _PLATFORMS[spec.architecture] for arg in ("--platform", p)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        *platforms,
        "--python-version",
        spec.python,
        "--implementation",
        "cp",
        "--dest",
        str(dest),
    ]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return [*command, *spec.requirements]


def fetch_layer_wheels(
    spec: LayerSpec, cache: Path, *, report: Callable[[str], None]
) -> list[Path]:
    """The wheels of ``spec`` and their dependencies, from ``cache/layer-<key>`` or fetched.

    Dependencies are pinned to the local versions first; when pip finds no Lambda wheel for
    one of those, it resolves them again with only the requirements pinned.

    Raises:
        BackendError: pip could not fetch the wheels (no network, no wheel for the target).
    """
    import shutil
    import subprocess

    target = cache / f"layer-{spec.key}"
    if (target / _COMPLETE).is_file():
        return sorted(target.glob("*.whl"))
    report(f"fetching the dependencies layer's wheels ({len(spec.requirements)} packages)")
    partial = cache / f"layer-{spec.key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pins = partial / "constraints.txt"
    pins.write_text("".join(f"{c}\n" for c in spec.constraints), encoding="utf-8")
    error = ""
    for constraints in (pins, None):
        for stale in partial.glob("*.whl"):  # a failed attempt's wheels mix no versions in
            stale.unlink()
        done = subprocess.run(  # noqa: S603 - a fixed pip command line, no shell
            layer_download_command(spec, partial, constraints),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            break
        lines = done.stderr.strip().splitlines()
        error = lines[-1] if lines else "pip failed"
        if constraints is not None:
            report("no Lambda wheel for a locally pinned dependency; resolving them afresh")
    else:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackendError(f"cannot fetch the dependencies layer's wheels: {error}")
    pins.unlink()
    (partial / _COMPLETE).write_text(json.dumps(list(spec.requirements)), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # only a finished download counts as cached
    return sorted(target.glob("*.whl"))


def _wheel_distribution(wheel: Path) -> str:
    return _canonical(wheel.name.split("-")[0])


def _layer_name(member: str) -> str | None:
    """Where a wheel member goes in the layer (under ``python/``), or None to leave it out."""
    parts = member.split("/")
    if parts[0].endswith(".data"):
        # purelib and platlib install into site-packages; scripts and headers are not needed.
        if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
            return None
        parts = parts[2:]
    if _WASTE_DIRS.intersection(parts[:-1]) or parts[-1].endswith(_WASTE_SUFFIXES):
        return None
    return "python/" + "/".join(parts)


def build_layer_zip(wheels: Sequence[Path], *, prefix: str = "layer") -> LayerArtifact:
    """The layer zip of ``wheels`` (``python/`` prefix), built deterministically.

    Raises:
        ConfigError: a wheel is unreadable, or the layer is over Lambda's unzipped limit.
    """
    members: dict[str, bytes] = {}
    kept: list[str] = []
    for wheel in sorted(wheels, key=lambda w: w.name):
        if _wheel_distribution(wheel) in LAYER_EXCLUDED:
            continue
        kept.append(wheel.name)
        try:
            with zipfile.ZipFile(wheel) as unpacked:
                for info in unpacked.infolist():
                    name = None if info.is_dir() else _layer_name(info.filename)
                    if name is not None:
                        members[name] = unpacked.read(info)
        except (OSError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"cannot read the wheel {wheel}: {exc}") from exc
    size = sum(len(data) for data in members.values())
    if size > LAYER_SIZE_LIMIT:
        raise ConfigError(
            f"the dependencies layer is {size / 2**20:.0f} MiB unzipped, over Lambda's "
            f"{LAYER_SIZE_LIMIT // 2**20} MiB; pass DependenciesLayerArn instead"
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            # Level 1: a fifth larger than the default and over twice as fast on 170 MiB;
            # the upload happens once per change, the build on every deploy.
            archive.writestr(info, members[name], compresslevel=1)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    return LayerArtifact(
        data=data,
        sha256=digest,
        key=f"{prefix}/layer-{digest[:20]}.zip",
        unzipped_size=size,
        distributions=tuple(kept),
    )
