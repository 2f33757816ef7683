"""botocore's exceptions as one-line ProviderErrors that name the region and profile.

The reason is built from the error's class and AWS error code only, never from its message or
request: those can carry account ids, principal ARNs or signed URLs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from nephos.errors import ProviderError

__all__ = ["map_boto_error"]

_REFUSED = frozenset(
    {"UnauthorizedOperation", "AuthFailure", "AccessDenied", "AccessDeniedException",
     "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
     "OptInRequired", "Blocked"}
)  # fmt: skip
_EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
_THROTTLED = frozenset({"RequestLimitExceeded", "Throttling", "ThrottlingException"})


def map_boto_error(exc: BaseException, *, region: str | None, profile: str | None) -> ProviderError:
    """A ProviderError saying in one line why an AWS call failed.

    Args:
        exc: what boto3 or botocore raised.
        region: the region of the call, if any.
        profile: the credential profile used, or None for the default chain.
    """
    import botocore.exceptions as bx

    where = "aws" + (f" {region}" if region else "") + (f" (profile {profile})" if profile else "")
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        reason = "no credentials found (configure a profile, environment variables or SSO)"
    elif isinstance(exc, bx.ProfileNotFound):
        reason = "the profile is not in the AWS config files"
    elif isinstance(exc, bx.SSOError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        reason = "the SSO session is missing or expired (run: aws sso login)"
    elif isinstance(exc, bx.TokenRetrievalError):
        reason = "the SSO token could not be refreshed (run: aws sso login)"
    elif isinstance(exc, bx.ClientError):
        reason = _client_error(exc)
    elif isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        reason = f"timed out talking to {_host(exc)}"
    elif isinstance(exc, bx.EndpointConnectionError):
        reason = f"cannot reach {_host(exc)}"
    elif isinstance(exc, bx.BotoCoreError):
        reason = f"AWS client error ({type(exc).__name__})"
    elif isinstance(exc, OSError):
        reason = f"network error ({type(exc).__name__})"
    else:
        reason = f"unexpected error ({type(exc).__name__})"
    return ProviderError(f"{where}: {reason}")


def _client_error(exc: BaseException) -> str:
    response = getattr(exc, "response", {}) or {}
    code = str(response.get("Error", {}).get("Code") or "unknown")
    operation = getattr(exc, "operation_name", None) or "a call"
    if code in _REFUSED:
        return f"{operation} was refused ({code}): the credentials lack access"
    if code in _EXPIRED:
        return f"{operation} was refused ({code}): the credentials have expired"
    if code in _THROTTLED:
        return f"{operation} was throttled ({code}) after retries"
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return f"{operation} failed ({code}" + (f", HTTP {status})" if status else ")")


def _host(exc: BaseException) -> str:
    """The host and port of the endpoint, without any path or query (which may be signed)."""
    url = str(getattr(exc, "kwargs", {}).get("endpoint_url") or "")
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or "the AWS endpoint"
