"""Packaging the Lambda code and uploading it: one deterministic zip, one artifact bucket.

The zip holds ``handlers/`` from ``infra/``, the ``nephos`` package without its faces (``cli``,
``tui``) and the wheels of :data:`LAMBDA_WHEELS`. boto3 comes from the python3.12 Lambda
runtime. The one other import the ingest, connections and broadcast handlers need is orjson
(the ingest parser's), a compiled package: its manylinux wheel for CPython 3.12 on x86_64 is
fetched with ``pip download`` (pinned to the version installed here) into a cache and unpacked
into the zip. A test imports every handler with only the standard library, boto3, orjson and
the zip on the path. The optional ETL and sentinel functions need more compiled wheels (the
Snowflake connector, cryptography, numpy...); they come from the dependencies layer that
``aws_layer.py`` builds (or the one the ``DependenciesLayerArn`` parameter names), never from
this zip.

Same sources give the same bytes (fixed times, sorted names), so the key, which is the
content's hash, changes exactly when the code does, and an unchanged deploy uploads nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nephos.deploy.aws_layer import LayerArtifact
from nephos.errors import BackendError, ConfigError

__all__ = [
    "LAMBDA_PLATFORM",
    "LAMBDA_WHEELS",
    "CodeArtifact",
    "artifact_bucket_name",
    "build_code_zip",
    "ensure_bucket",
    "fetch_wheels",
    "pip_download_command",
    "upload_code",
    "wheel_cache_dir",
]

LAMBDA_WHEELS: tuple[str, ...] = ("orjson",)
"""Third-party distributions unpacked into the zip (boto3 is in the Lambda runtime)."""
LAMBDA_PLATFORM = {"platform": "manylinux2014_x86_64", "python": "3.12", "implementation": "cp"}
"""The wheels' target: the python3.12 x86_64 Lambda runtime."""

_EXCLUDED_PACKAGES = ("cli", "tui")
_PACKAGE_SUFFIXES = (".py", ".sql", ".yaml", ".typed")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class CodeArtifact:
    """The built zip: its bytes, its SHA-256 and the S3 key derived from it."""

    data: bytes
    sha256: str
    key: str


def _files(infra_dir: Path, package_dir: Path) -> Iterator[tuple[str, Path]]:
    handlers = infra_dir / "handlers"
    if not (handlers / "__init__.py").is_file():
        raise ConfigError(f"{handlers} is not a package (no __init__.py)")
    for path in handlers.rglob("*.py"):
        if "__pycache__" not in path.parts:
            yield f"handlers/{path.relative_to(handlers).as_posix()}", path
    # os.walk with followlinks: nephos/warehouse/sql is a link to the repository's snowflake/
    # in a source checkout (Path.rglob would not descend into it).
    for folder, _dirs, names in os.walk(package_dir, followlinks=True):
        for name in names:
            path = Path(folder) / name
            relative = path.relative_to(package_dir)
            if "__pycache__" in relative.parts or relative.parts[0] in _EXCLUDED_PACKAGES:
                continue
            if path.suffix in _PACKAGE_SUFFIXES and path.is_file():
                yield f"nephos/{relative.as_posix()}", path


def build_code_zip(
    infra_dir: Path, *, prefix: str = "code", wheels: Sequence[Path] = ()
) -> CodeArtifact:
    """The Lambda code zip for the handlers in ``infra_dir`` and the unpacked ``wheels``,
    built deterministically.

    Raises:
        ConfigError: ``infra_dir`` has no ``handlers`` package, or a wheel is unreadable.
    """
    import nephos

    package_dir = Path(nephos.__file__).resolve().parent
    members: dict[str, bytes] = {}
    for wheel in wheels:
        try:
            with zipfile.ZipFile(wheel) as unpacked:
                for name in unpacked.namelist():
                    if not name.endswith("/"):
                        members[name] = unpacked.read(name)
        except (OSError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"cannot read the wheel {wheel}: {exc}") from exc
    for name, path in _files(infra_dir, package_dir):
        members[name] = path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, members[name])
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    return CodeArtifact(data=data, sha256=digest, key=f"{prefix}/{digest[:20]}.zip")


def wheel_cache_dir() -> Path:
    """Where fetched Lambda wheels are kept: ``$NEPHOS_WHEEL_CACHE`` or the user cache."""
    explicit = os.environ.get("NEPHOS_WHEEL_CACHE")
    return Path(explicit) if explicit else Path.home() / ".cache" / "nephos" / "lambda-wheels"


def _requirement(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name}=={version(name)}"
    except PackageNotFoundError:
        return name


def pip_download_command(names: Sequence[str], dest: Path) -> list[str]:
    """The ``pip download`` that fetches ``names`` as wheels for the Lambda runtime."""
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        LAMBDA_PLATFORM["platform"],
        "--python-version",
        LAMBDA_PLATFORM["python"],
        "--implementation",
        LAMBDA_PLATFORM["implementation"],
        "--dest",
        str(dest),
        *(_requirement(n) for n in names),
    ]


def fetch_wheels(names: Sequence[str], cache: Path, *, report: Callable[[str], None]) -> list[Path]:
    """The Lambda wheels of ``names``, from ``cache`` or downloaded into it with pip.

    Raises:
        BackendError: pip could not fetch a wheel (no network, no such version).
    """
    import subprocess

    def cached(name: str) -> Path | None:
        dist, _, version = _requirement(name).partition("==")
        stem = re.sub(r"[-_.]+", "_", dist)  # the wheel file name's spelling of the name
        found = sorted(cache.glob(f"{stem}-{version or '*'}-*.whl"))
        return found[-1] if found else None

    missing = [n for n in names if cached(n) is None]
    if missing:
        report(f"fetching Lambda wheels: {', '.join(_requirement(n) for n in missing)}")
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(  # noqa: S603 - a fixed pip command line, no shell
            pip_download_command(missing, cache), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BackendError(
                f"cannot fetch the Lambda wheels ({', '.join(missing)}): "
                f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'pip failed'}"
            )
    wheels = [cached(n) for n in names]
    lost = [n for n, w in zip(names, wheels, strict=True) if w is None]
    if lost:
        raise BackendError(f"pip fetched no wheel for {', '.join(lost)}")
    return [w for w in wheels if w is not None]


def artifact_bucket_name(account: str, region: str) -> str:
    """The artifact bucket of an account and region (bucket names are global, so both)."""
    return f"nephos-deploy-{account}-{region}"


def ensure_bucket(s3: Any, bucket: str, region: str, *, report: Callable[[str], None]) -> bool:
    """Create ``bucket`` (private, versioned, encrypted) unless it exists; True if created.

    Raises:
        BackendError: the bucket belongs to another account, or S3 refused a call.
    """
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("403", "AccessDenied"):
            raise BackendError(
                f"the artifact bucket {bucket} exists but is not yours (or not readable)"
            ) from exc
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise BackendError(f"cannot check the artifact bucket {bucket}: {code}") from exc
    report(f"creating the artifact bucket {bucket}")
    try:
        if region == "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise BackendError(f"cannot create the artifact bucket {bucket}: {code}") from exc
    return True


def upload_code(
    s3: Any,
    bucket: str,
    artifact: CodeArtifact | LayerArtifact,
    *,
    report: Callable[[str], None],
    what: str = "code",
) -> bool:
    """Upload ``artifact`` (the ``what``) unless an object with its key exists; True if
    uploaded.

    Raises:
        BackendError: S3 refused the upload.
    """
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=artifact.key)
        report(f"{what} unchanged: s3://{bucket}/{artifact.key}")
        return False
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) not in ("404", "NoSuchKey"):
            raise BackendError(f"cannot read s3://{bucket}/{artifact.key}") from exc
    size_kib = len(artifact.data) / 1024
    report(f"uploading the {what} ({size_kib:.0f} KiB) to s3://{bucket}/{artifact.key}")
    try:
        s3.put_object(
            Bucket=bucket,
            Key=artifact.key,
            Body=artifact.data,
            ChecksumSHA256=_b64_sha256(artifact.data),
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise BackendError(f"cannot upload to s3://{bucket}/{artifact.key}: {code}") from exc
    return True


def _b64_sha256(data: bytes) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(data).digest()).decode()
