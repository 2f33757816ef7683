"""The DynamoDB hot store's options, its boto3 clients and the mapping of boto3 errors.

:class:`DynamoOptions` reads ``storage.hot.options`` for the ``dynamodb`` backend (and the
stream tailer); :func:`make_client` builds a client with botocore's standard retry mode;
:func:`map_dynamo_error` turns a boto3 exception into a :class:`~nephos.errors.StoreError`.
boto3 is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nephos.errors import ConfigError, StoreError, StoreUnavailable

__all__ = ["DynamoOptions", "error_code", "make_client", "map_dynamo_error"]

_PATH = "storage.hot"  # the options sit beside ``backend`` in the config file
_DEFAULT_PREFIX = "nephos-"

# Error codes that mean "not now" rather than "wrong": the caller spools and retries later.
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionInProgressException",
        "500",
        "502",
        "503",
        "504",
    }
)


@dataclass(frozen=True, slots=True)
class DynamoOptions:
    """The ``dynamodb`` backend's options (the keys beside ``backend`` under ``storage.hot``).

    Attributes:
        table_prefix: prepended to ``results``, ``alerts``, ``instances``, ``state`` and
            ``events`` to name the tables (``nephos-results``...).
        region: the AWS region; boto3's default chain when None.
        endpoint_url: a DynamoDB-compatible endpoint (moto, DynamoDB Local); AWS when None.
        profile: a named profile of the shared AWS config; boto3's default chain when None.
        create_tables: create missing tables on ``open()`` (tests and local runs; in
            production the CloudFormation stack creates them).
        transactions: write each item with its event in TransactWriteItems (atomic, twice
            the write units); false: BatchWriteItem (see docs/dynamodb.md).
        gap_timeout: seconds after which a seq that was allocated but never written (its
            writer died) is skipped by readers of the change feed.
        max_attempts: botocore's standard retry mode attempts per call.
        connect_timeout, read_timeout: seconds, per attempt.
    """

    table_prefix: str = _DEFAULT_PREFIX
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    create_tables: bool = False
    transactions: bool = True
    gap_timeout: float = 30.0
    max_attempts: int = 3
    connect_timeout: float = 3.0
    read_timeout: float = 5.0

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> DynamoOptions:
        """Options from the config's mapping, checked.

        Raises:
            ConfigError: an unknown key, or a value of the wrong type or range.
        """
        options = {str(k).replace("-", "_"): v for k, v in options.items()}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown dynamodb option(s): {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})",
                path=f"{_PATH}.{unknown[0]}",
            )
        values: dict[str, Any] = {}
        for key in ("table_prefix", "region", "endpoint_url", "profile"):
            if key in options and options[key] is not None:
                if not isinstance(options[key], str):
                    raise ConfigError("must be text", path=f"{_PATH}.{key}")
                values[key] = options[key]
        for key in ("create_tables", "transactions"):
            if key in options:
                if not isinstance(options[key], bool):
                    raise ConfigError("must be true or false", path=f"{_PATH}.{key}")
                values[key] = options[key]
        for key in ("gap_timeout", "connect_timeout", "read_timeout"):
            if key in options:
                values[key] = _positive_number(key, options[key])
        if "max_attempts" in options:
            attempts = options["max_attempts"]
            if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
                raise ConfigError("must be a whole number >= 1", path=f"{_PATH}.max_attempts")
            values["max_attempts"] = attempts
        prefix = str(values.get("table_prefix", _DEFAULT_PREFIX))
        if not all(c.isalnum() or c in "-_." for c in prefix) or len(prefix) > 200:
            raise ConfigError(
                "may hold only letters, digits, '-', '_' and '.'", path=f"{_PATH}.table_prefix"
            )
        return cls(**values)

    def table(self, role: str) -> str:
        """The name of the table for ``role`` (``results``, ``events``...)."""
        return f"{self.table_prefix}{role}"

    @property
    def where(self) -> str:
        """Where the store lives, for messages: region and endpoint, never credentials."""
        parts = [self.table_prefix + "*"]
        if self.region:
            parts.append(self.region)
        if self.endpoint_url:
            parts.append(self.endpoint_url)
        return "dynamodb " + " ".join(parts)


def _positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError("must be a number of seconds > 0", path=f"{_PATH}.{key}")
    return float(value)


def make_client(service: str, options: DynamoOptions) -> Any:
    """A boto3 client for ``service`` (``dynamodb`` or ``dynamodbstreams``), standard retries.

    Clients are thread-safe once built; build one per store and share it between threads.

    Raises:
        StoreError: the profile does not exist, or the region cannot be determined.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        retries={"mode": "standard", "max_attempts": options.max_attempts},
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        max_pool_connections=32,
    )
    try:
        session = boto3.session.Session(profile_name=options.profile, region_name=options.region)
        build: Any = session.client  # typed per service name by boto3-stubs; ours is a str
        return build(service, endpoint_url=options.endpoint_url, config=config)
    except BotoCoreError as exc:
        raise StoreError(f"{options.where}: {type(exc).__name__}: {exc}") from exc


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (``ConditionalCheckFailedException``...),
    or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def map_dynamo_error(exc: Exception, where: str, action: str) -> StoreError:
    """The NephosError for a boto3 failure: StoreUnavailable when retrying later may work.

    Throttling, server errors, timeouts and unreachable endpoints are "unavailable"; missing
    tables, missing credentials, bad requests and refused permissions are "error".
    """
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        HTTPClientError,
        NoCredentialsError,
    )

    code = error_code(exc)
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        unavailable = code in _UNAVAILABLE_CODES or (isinstance(status, int) and status >= 500)
        message = exc.response.get("Error", {}).get("Message") or code
        cls = StoreUnavailable if unavailable else StoreError
        return cls(f"{where}: cannot {action}: {code}: {message}")
    if isinstance(exc, NoCredentialsError):
        return StoreError(f"{where}: cannot {action}: no AWS credentials found")
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return StoreUnavailable(f"{where}: cannot {action}: {type(exc).__name__}")
    return StoreError(f"{where}: cannot {action}: {code}")
