"""A local OpenAI-compatible chat-completions server (aiohttp, 127.0.0.1, ephemeral port).

It speaks the real wire format: ``POST /v1/chat/completions`` with ``model``, ``messages``,
``response_format``; answers ``chat.completion`` objects with ``choices[0].message.content``
and ``usage``, or OpenAI-shaped errors. Tests queue answers (a dict becomes the JSON content)
or statuses, and read back every request it received.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeOpenAI", "fake_openai"]


@dataclass
class FakeOpenAI:
    """The server's state: queued replies, per-model refusals, received requests."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: deque[tuple[int, Any]] = field(default_factory=deque)
    unknown_models: set[str] = field(default_factory=set)
    default: Any = None

    def answer(self, content: Any, status: int = 200) -> None:
        """Queue one reply: a dict (sent as JSON content), a string, or an error status."""
        self.replies.append((status, content))

    def messages(self, index: int = -1) -> tuple[str, str]:
        """The system and user message of a received request."""
        msgs = self.requests[index]["messages"]
        return msgs[0]["content"], msgs[1]["content"]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        model = body.get("model", "")
        if model in self.unknown_models:
            return web.json_response(
                {"error": {"message": f"model '{model}' not found", "type": "not_found"}},
                status=404,
            )
        status, content = self.replies.popleft() if self.replies else (200, self.default)
        if status != 200:
            return web.json_response(
                {"error": {"message": "try again later", "type": "server_error"}},
                status=status,
                headers={"Retry-After": "1"} if status == 429 else None,
            )
        text = content if isinstance(content, str) else json.dumps(content)
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1767614400,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 812, "completion_tokens": 164, "total_tokens": 976},
            }
        )


@asynccontextmanager
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """Serve a :class:`FakeOpenAI` on loopback for the duration of the block."""
    state = FakeOpenAI()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        await runner.cleanup()
