"""The replay's endpoint client: timings and usage from a stream, and adapting to servers that
refuse ``n`` or ``stream_options`` (as some OpenAI-compatible servers do)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from lethe.gateway.replay.client import EndpointClient, EndpointUnreachable

QUESTION = [{"role": "user", "content": "Hi"}]


def strict_app() -> FastAPI:
    """A minimal OpenAI-like server that knows neither ``n`` > 1 nor ``stream_options``."""
    app = FastAPI()
    app.state.bodies = []

    @app.get("/readyz")
    def ready() -> dict:
        return {"status": "ready"}

    @app.get("/v1/models")
    def models() -> dict:
        return {
            "object": "list",
            "data": [{"id": "strict", "object": "model", "created": 0, "owned_by": "x"}],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        app.state.bodies.append(body)
        for param in ("stream_options", "n"):
            if param in body and (param != "n" or body["n"] > 1):
                error = {
                    "message": f"unsupported: {param}",
                    "type": "invalid_request_error",
                    "param": param,
                    "code": None,
                }
                return JSONResponse({"error": error}, status_code=400)

        def frames() -> Iterator[str]:
            for piece in ("Hel", "lo"):
                chunk = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "strict",
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def strict_url() -> Iterator[tuple[str, FastAPI]]:
    from tests.gateway.live import LiveServer

    app = strict_app()
    with LiveServer(app) as live:
        yield live.url + "/v1", app


def test_adapts_to_a_strict_server(strict_url):
    url, app = strict_url

    async def go() -> tuple:
        client = EndpointClient(url, max_n=8)
        try:
            done = await client.chat(QUESTION, temperature=1.0, n=3, seed=7)
            return done, client.usage, client.max_n, await client.resolve_model()
        finally:
            await client.close()

    done, usage, max_n, model = asyncio.run(go())
    assert done.error is None and done.texts == ("Hello", "Hello", "Hello")
    assert usage is False and max_n == 1 and model == "strict"
    assert done.completion_tokens is None and done.ttft_s is not None
    seeds = [b.get("seed") for b in app.state.bodies if "n" not in b or b["n"] == 1]
    assert seeds[-3:] == [7, 8, 9]  # one request per choice, seeds in a row


def test_timings_and_usage_from_the_gateway(client):  # the fake gateway of tests/gateway
    url = str(client.base_url).rstrip("/")

    async def go():
        c = EndpointClient(url)
        try:
            return await c.chat(QUESTION, max_tokens=8)
        finally:
            await c.close()

    done = asyncio.run(go())
    assert done.texts == ("Hello world",)
    assert 0 < done.ttft_s <= done.total_s
    assert done.completion_tokens == 2 and done.prompt_tokens is not None


def test_unreachable_endpoint():
    async def go():
        c = EndpointClient("http://127.0.0.1:9/v1", timeout_s=5)
        try:
            await c.chat(QUESTION)
        finally:
            await c.close()

    with pytest.raises(EndpointUnreachable, match="cannot reach"):
        asyncio.run(go())
