"""The HTTP policy shared by the Vultr, GCP and Azure adapters: auth, timeouts, retries, errors.

:class:`ApiClient` wraps one ``httpx.AsyncClient``. It sends a bearer token (a fixed key or a
refreshing token source) and never logs it; it retries 429, 5xx, transport errors and whatever
the provider's ``retryable`` predicate adds (GCP's 403 ``rateLimitExceeded``), with exponential
backoff and full jitter on the injected clock and random generator, honouring ``Retry-After``
(seconds or an HTTP date). Everything that still fails becomes a ProviderError whose message
names the provider and the reason, never the credentials. Parsing of each API's shapes lives in
the provider modules, not here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import httpx

from nephos.clock import Clock
from nephos.errors import ProviderError

__all__ = [
    "ApiClient",
    "ApiError",
    "RateLimit",
    "RetryPolicy",
    "TokenSource",
    "error_text",
    "seconds",
]

log = logging.getLogger(__name__)

TokenSource = Callable[[], Awaitable[str]]
"""Returns a bearer token that is valid now (refreshing it first when needed)."""

Retryable = Callable[[httpx.Response], bool]


class ApiError(ProviderError):
    """The API answered with an error status; ``status`` lets a caller tell 404 from the rest."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry.

    The n-th retry waits a random time in ``[0, min(max_delay, base_delay * 2**n))`` (full
    jitter), or what ``Retry-After`` asks for. A ``Retry-After`` longer than
    ``max_retry_after`` is not waited for: the call fails and the next poll tries again.
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 120.0


class RateLimit:
    """A token bucket on the injected clock: ``rate`` requests a second, bursts up to ``rate``.

    It keeps nephos under an API's documented limit (Vultr: 30 requests a second per IP)
    rather than waiting for 429s.
    """

    def __init__(self, rate: float, clock: Clock) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._stamp = clock.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait, if needed, until one more request fits in the rate."""
        async with self._lock:
            now = self._clock.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1.0:
                await self._clock.sleep((1.0 - self._tokens) / self.rate)
                self._tokens, self._stamp = 1.0, self._clock.monotonic()
            self._tokens -= 1.0


def seconds(value: Any, default: float) -> float:
    """A timeout-like option as seconds: a timedelta, a number, or ``default`` when None."""
    if value is None:
        return default
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def error_text(response: httpx.Response, limit: int = 200) -> str:
    """The error message an API put in its body, shortened; empty when there is none.

    Vultr answers ``{"error": "..."}``; Google and Azure answer ``{"error": {"message": ...}}``.
    """
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    if not isinstance(error, str):
        return ""
    text = " ".join(error.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _default_retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


class ApiClient:
    """GETs JSON from one provider's API with the shared retry and error policy.

    Args:
        provider: the provider's name, the first word of every error message.
        base_url: relative paths are joined to it.
        clock: waits between attempts go through it.
        rng: draws the jitter; seed it for reproducible waits.
        token: a bearer token source, or None for no Authorization header.
        auth_hint: what to tell the user on 401/403 (``check VULTR_API_KEY``).
        retry: the retry policy.
        timeout: seconds for each attempt.
        retryable: extra responses worth retrying, beside 429 and 5xx.
        transport: an httpx transport (tests may pass one); None for the network.
        max_connections: the connection pool's size.
        rate_limit: at most this many requests a second (bursts included); None for no limit.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        token: TokenSource | None = None,
        auth_hint: str = "check the credentials",
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        retryable: Retryable | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
        rate_limit: float | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.rng = rng or random.Random()
        self.retry = retry or RetryPolicy()
        self._token = token
        self._auth_hint = auth_hint
        self._retryable = retryable
        self._bucket = RateLimit(rate_limit, clock) if rate_limit else None
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"Accept": "application/json", "User-Agent": "nephos"},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def same_origin(self, url: str) -> bool:
        """Whether ``url`` points at the configured API (so that it may receive the token)."""
        mine, theirs = urlsplit(self.base_url), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``url`` (absolute, or relative to the base URL) and decode its JSON body.

        Raises:
            ProviderError: the API could not be reached, refused the credentials, kept
                failing after the retries, or answered something that is not JSON.
        """
        full = url if url.startswith(("http://", "https://")) else self.base_url + url
        path = urlsplit(full).path
        attempt = 0
        while True:
            attempt += 1
            headers = {}
            if self._bucket is not None:
                await self._bucket.acquire()
            if self._token is not None:
                headers["Authorization"] = f"Bearer {await self._token()}"
            try:
                response = await self._http.get(full, params=params, headers=headers)
            except httpx.HTTPError as exc:
                reason = _transport_reason(exc)
                if attempt >= self.retry.attempts:
                    raise ProviderError(f"{self.provider}: {reason} (GET {path})") from exc
                await self._wait(attempt, None, reason)
                continue
            if response.is_success:
                try:
                    return response.json()
                except ValueError as exc:
                    raise ProviderError(
                        f"{self.provider}: GET {path} answered {response.status_code} "
                        "with a body that is not JSON"
                    ) from exc
            if self._should_retry(response) and attempt < self.retry.attempts:
                await self._wait(attempt, response, _status_words(response))
                continue
            raise self._failure(response, path)

    def _should_retry(self, response: httpx.Response) -> bool:
        if _default_retryable(response):
            return True
        return self._retryable is not None and self._retryable(response)

    def _failure(self, response: httpx.Response, path: str) -> ApiError:
        words = _status_words(response)
        detail = error_text(response)
        if response.status_code in (401, 403) and not (
            self._retryable and self._retryable(response)
        ):
            return ApiError(
                f"{self.provider}: {words}: {self._auth_hint}", status=response.status_code
            )
        if self._should_retry(response):
            words += f" after {self.retry.attempts} attempts"
        suffix = f": {detail}" if detail else ""
        message = f"{self.provider}: {words} (GET {path}){suffix}"
        return ApiError(message, status=response.status_code)

    async def _wait(self, attempt: int, response: httpx.Response | None, reason: str) -> None:
        delay = self._retry_after(response) if response is not None else None
        if delay is None:
            ceiling = min(self.retry.max_delay, self.retry.base_delay * 2 ** (attempt - 1))
            delay = self.rng.uniform(0.0, ceiling)
        elif delay > self.retry.max_retry_after:
            raise ProviderError(
                f"{self.provider}: {reason}; the API asked to wait {delay:.0f} s, "
                f"longer than {self.retry.max_retry_after:.0f} s"
            )
        log.info(
            "%s: %s; retrying in %.2f s (attempt %d of %d)",
            self.provider,
            reason,
            delay,
            attempt + 1,
            self.retry.attempts,
        )
        await self.clock.sleep(delay)

    def _retry_after(self, response: httpx.Response) -> float | None:
        """``Retry-After`` in seconds (from a number or an HTTP date), or None when absent."""
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # unreadable: fall back to backoff
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - self.clock.now()).total_seconds())


def _status_words(response: httpx.Response) -> str:
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = "HTTP error"
    return f"{response.status_code} {phrase}"


def _transport_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return f"request failed ({type(exc).__name__})"
