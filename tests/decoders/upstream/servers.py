"""Real HTTP upstreams on loopback for the ``upstream`` engine's tests.

- :func:`lethe_upstream`: a Lethe gateway on the scripted :class:`FakeEngine` (no unlearning):
  a real OpenAI-compatible server, with real SSE, usage chunks and error envelopes, whose
  engine records the turns it was asked for.
- :class:`ScriptedUpstream`: a bare FastAPI app that answers each request with the next
  :class:`Scripted` answer (any status, raw bytes sent in pieces, pauses) and records what it
  received (path, headers, JSON body, the client's port): for what a well-behaved server never
  sends.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from lethe.gateway.app import create_app
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer

MODEL = "lethe-fake"


@contextmanager
def lethe_upstream(engine: FakeEngine, **settings: Any) -> Iterator[LiveServer]:
    """A bare Lethe gateway serving ``engine`` on a loopback port."""
    values: dict[str, Any] = {"unlearning": False, **settings}
    with LiveServer(create_app(make_settings(**values), engine=engine)) as live:
        yield live


def sse(*chunks: dict[str, Any] | str, done: bool = True) -> bytes:
    """An SSE body: one ``data:`` event per chunk (dicts as JSON), then ``[DONE]``."""
    frames = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return ("".join(frames) + ("data: [DONE]\n\n" if done else "")).encode()


@dataclass
class Scripted:
    """One answer: ``status`` (after ``headers_delay_s``), and ``body`` sent as one piece or
    as several (``delay_s`` before each)."""

    status: int = 200
    body: bytes | list[bytes] = b""
    delay_s: float = 0.0
    headers_delay_s: float = 0.0
    media_type: str = "text/event-stream"


@dataclass
class Received:
    """What the scripted server got."""

    path: str
    headers: dict[str, str]
    body: Any
    client_port: int


@dataclass
class ScriptedUpstream:
    """``with ScriptedUpstream() as up:``; ``up.enqueue(Scripted(...))``; ``up.url + "/v1"``."""

    models: dict[str, Any] = field(
        default_factory=lambda: {"object": "list", "data": [{"id": MODEL, "object": "model"}]}
    )
    script: deque[Scripted] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)

    def enqueue(self, *answers: Scripted) -> None:
        self.script.extend(answers)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/healthz")
        @app.get("/readyz")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/v1/models")
        async def models() -> JSONResponse:
            return JSONResponse(self.models)

        @app.post("/v1/{path:path}")
        async def generate(path: str, request: Request) -> Response:
            raw = await request.body()
            self.received.append(
                Received(
                    path="/" + path,
                    headers=dict(request.headers),
                    body=json.loads(raw) if raw else None,
                    client_port=request.client.port if request.client else 0,
                )
            )
            answer = self.script.popleft() if self.script else Scripted(body=sse())
            await asyncio.sleep(answer.headers_delay_s)
            pieces = answer.body if isinstance(answer.body, list) else [answer.body]
            return StreamingResponse(
                _pieces(pieces, answer.delay_s),
                status_code=answer.status,
                media_type=answer.media_type,
            )

        return app

    def __enter__(self) -> ScriptedUpstream:
        self._live = LiveServer(self.app())
        self._live.__enter__()
        self.url = self._live.url
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(*exc)


async def _pieces(pieces: list[bytes], delay_s: float) -> AsyncIterator[bytes]:
    for piece in pieces:
        if delay_s:
            await asyncio.sleep(delay_s)
        yield piece
