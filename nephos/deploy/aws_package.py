"""Packaging the Lambda code and uploading it: one deterministic zip, one artifact bucket.

The zip holds ``handlers/`` from ``infra/`` and the ``nephos`` package without its faces
(``cli``, ``tui``). No third-party distribution is bundled: the handlers need only boto3, which
the python3.12 Lambda runtime provides (:data:`BUNDLED_DISTRIBUTIONS` is empty on purpose, and
a test imports every handler with nothing but the standard library, boto3 and the zip on the
path). The optional ETL and sentinel functions need compiled wheels (the Snowflake connector,
pydantic, cryptography); they come from the layer named by the ``DependenciesLayerArn``
parameter, never from this zip.

Same sources give the same bytes (fixed times, sorted names), so the key, which is the
content's hash, changes exactly when the code does, and an unchanged deploy uploads nothing.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nephos.errors import BackendError, ConfigError

__all__ = [
    "BUNDLED_DISTRIBUTIONS",
    "CodeArtifact",
    "artifact_bucket_name",
    "build_code_zip",
    "ensure_bucket",
    "upload_code",
]

BUNDLED_DISTRIBUTIONS: tuple[str, ...] = ()
"""Third-party distributions copied into the zip: none (boto3 is in the Lambda runtime)."""

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
    for path in package_dir.rglob("*"):
        relative = path.relative_to(package_dir)
        if not path.is_file() or "__pycache__" in relative.parts:
            continue
        if relative.parts[0] in _EXCLUDED_PACKAGES or path.suffix not in _PACKAGE_SUFFIXES:
            continue
        yield f"nephos/{relative.as_posix()}", path


def build_code_zip(infra_dir: Path, *, prefix: str = "code") -> CodeArtifact:
    """The Lambda code zip for the handlers in ``infra_dir``, built deterministically.

    Raises:
        ConfigError: ``infra_dir`` has no ``handlers`` package.
    """
    import nephos

    package_dir = Path(nephos.__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(_files(infra_dir, package_dir)):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    return CodeArtifact(data=data, sha256=digest, key=f"{prefix}/{digest[:20]}.zip")


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
    s3: Any, bucket: str, artifact: CodeArtifact, *, report: Callable[[str], None]
) -> bool:
    """Upload ``artifact`` unless an object with its key exists; True if uploaded.

    Raises:
        BackendError: S3 refused the upload.
    """
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key=artifact.key)
        report(f"code unchanged: s3://{bucket}/{artifact.key}")
        return False
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) not in ("404", "NoSuchKey"):
            raise BackendError(f"cannot read s3://{bucket}/{artifact.key}") from exc
    size_kib = len(artifact.data) / 1024
    report(f"uploading the code ({size_kib:.0f} KiB) to s3://{bucket}/{artifact.key}")
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
