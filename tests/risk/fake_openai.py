"""A local stand-in for an OpenAI-compatible API: POST /v1/chat/completions, recorded.

Modes: "ok" (a valid structured answer), "garbage" (content that is not the JSON asked for),
"error" (HTTP 500), "hang" (answers only when released: past any client timeout).
Runs in-process on a free port, so the real openai client talks real HTTP to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

USAGE = {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
ANSWER = {"explanation": "Booked three weeks ahead and new to the department, so the risk is "
                         "moderate.",
          "outreach_message": "We look forward to seeing you; if you cannot come, please "
                              "cancel so another patient can have the slot."}


@dataclass
class FakeOpenAI:
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    answer: dict[str, Any] | None = None     # the structured answer of "ok" (default ANSWER)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def completions(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.raw.append(body)
        self.requests.append(json.loads(body))
        self.received.set()
        if self.mode == "hang":
            await self.release.wait()
        if self.mode == "error":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}},
                                status_code=500)
        content = ("certainly! here is no json" if self.mode == "garbage"
                   else json.dumps(self.answer or ANSWER))
        return JSONResponse({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0,
            "model": self.requests[-1].get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content,
                                     "refusal": None}}],
            "usage": USAGE,
        })

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.completions,
                                       methods=["POST"])])


@contextlib.asynccontextmanager
async def running(mode: str = "ok", answer: dict[str, Any] | None = None
                  ) -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(mode=mode, answer=answer)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # listening before the server runs: no wait for "started" is needed
    fake.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake.app(), log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield fake
    finally:
        fake.release.set()
        server.should_exit = True
        await task
        sock.close()
