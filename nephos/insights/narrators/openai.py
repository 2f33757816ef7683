"""The ``openai`` narrator: any OpenAI-compatible ``/chat/completions`` server (Ollama, vLLM,
LiteLLM, OpenAI) through httpx, with JSON-schema output, temperature 0, timeouts and retries.

Options (``insights``): ``base_url`` (default Ollama's ``http://127.0.0.1:11434/v1``),
``api_key`` (a secret: sent as a bearer token, never logged or shown), ``model`` and
``fallback_models``, ``max_tokens``, ``timeout``, ``retries``. Rate limits (429) and server
errors (5xx) are retried with backoff on the injected clock, honouring ``Retry-After``; a
model the server does not know makes the narrator try the next one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from nephos.clock import Clock
from nephos.insights.narrators.base import NarratorError, Usage
from nephos.insights.narrators.llm import Completion, ModelNarrator, ModelUnavailable, parse_answer
from nephos.insights.prompt import Prompt

__all__ = ["DEFAULT_BASE_URL", "OpenAINarrator", "request_body"]

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"
_MAX_RETRY_AFTER = 30.0


def request_body(prompt: Prompt, model: str, max_tokens: int) -> dict[str, Any]:
    """The chat-completions request for ``prompt``: system and user messages, temperature 0,
    and the answer's JSON schema as ``response_format``."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        "temperature": 0,
        "max_tokens": max_tokens,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": f"nephos_{prompt.kind}",
                "strict": True,
                "schema": prompt.schema,
            },
        },
    }


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:200]
    return str(error or body)[:200]


class OpenAINarrator(ModelNarrator):
    """Asks an OpenAI-compatible server.

    Args:
        base_url: the API root, ending in ``/v1`` for most servers.
        api_key: the bearer token, if the server needs one.
        timeout: seconds one request may take.
        retries: further attempts after a timeout, a 429 or a 5xx.
        clock: what backoff sleeps on.
        **kwargs: see :class:`ModelNarrator`.
    """

    name: ClassVar[str] = "openai"

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        clock: Clock,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = max(0, retries)
        self._clock = clock
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    async def complete(self, prompt: Prompt, model: str) -> Completion:
        """POST the prompt; retry timeouts, 429 and 5xx; parse the JSON answer.

        Raises:
            ModelUnavailable: the server does not know ``model``.
            NarratorError: the server cannot be reached, refuses the key, or answers badly.
        """
        url = f"{self.base_url}/chat/completions"
        body = request_body(prompt, model, self.max_tokens)
        delay = 1.0
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await self._clock.sleep(delay)
                delay *= 2
            try:
                response = await self._http().post(url, json=body, headers=self._headers)
            except httpx.TimeoutException:
                problem = (
                    f"{self.base_url} did not answer within {self.timeout:g}s (insights.timeout)"
                )
                continue
            except httpx.HTTPError as exc:
                problem = (
                    f"cannot reach {self.base_url} ({type(exc).__name__}): is the server running?"
                )
                continue
            status = response.status_code
            if status == 200:
                return self._parse(response, model)
            text = _error_text(response)
            if status == 404 or (status == 400 and "model" in text.lower()):
                raise ModelUnavailable(
                    f"the server does not serve model {model} ({text or status}); "
                    "pull it (ollama pull) or name another in insights.model"
                )
            if status in (401, 403):
                raise NarratorError(
                    f"{self.base_url} refused the request (HTTP {status}): check insights.api_key"
                )
            if status == 429 or status >= 500:
                problem = f"{self.base_url} answered HTTP {status} ({text})"
                delay = max(delay, _retry_after(response))
                continue
            raise NarratorError(f"{self.base_url} answered HTTP {status}: {text}")
        raise NarratorError(f"{problem} after {self.retries + 1} attempts")

    def _parse(self, response: httpx.Response, model: str) -> Completion:
        try:
            data = response.json()
            choice = data["choices"][0]
            message = choice["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise NarratorError(f"{self.base_url} answered without a chat completion") from exc
        if message.get("refusal"):
            raise NarratorError(f"the model refused: {str(message['refusal'])[:200]}")
        if choice.get("finish_reason") == "length":
            raise NarratorError(
                f"the answer was cut off at {self.max_tokens} tokens: raise insights.max_tokens"
            )
        usage = data.get("usage") or {}
        return Completion(
            answer=parse_answer(str(message.get("content") or "")),
            model=str(data.get("model") or model),
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        )

    async def close(self) -> None:
        """Close the HTTP client; idempotent."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(_MAX_RETRY_AFTER, max(0.0, float(response.headers.get("retry-after", 0))))
    except ValueError:
        return 0.0
