"""What the gateway itself costs per request, against a bare FastAPI route on the same server.

Both apps run on a live uvicorn server on loopback and are timed with the same httpx client,
alternating rounds so that machine noise hits both alike. Lethe serves the scripted fake engine
(no model time): what is left is parsing, validation, Turn building, response shaping, SSE and
logging. The baseline route parses the same JSON body and returns a canned completion.

    python -m benchmarks.gateway_floor [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from benchmarks.common import load_average, median, percentile, save
from lethe.gateway.app import create_app
from lethe.gateway.settings import Settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer

MODEL = "lethe-fake"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello"}]}
CANNED = {
    "id": "chatcmpl-0",
    "object": "chat.completion",
    "created": 0,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello world"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
}


def bare_app() -> FastAPI:
    """The floor: a FastAPI route that reads the body and returns a canned completion."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(body: dict[str, Any]) -> dict[str, Any]:
        return CANNED

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    return app


def timed(url: str, body: dict[str, Any], requests: int) -> list[float]:
    """Milliseconds per request, sequential, on one keep-alive connection."""
    samples = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(requests):
            started = time.perf_counter()
            response = client.post("/v1/chat/completions", json=body)
            response.read()
            response.raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    settings = Settings(
        default_max_tokens=16,
        data_dir=Path(tempfile.mkdtemp(prefix="lethe-bench-")),
        embedder_preload=False,
    )
    lethe_app = create_app(settings, engine=FakeEngine(model_id=MODEL))
    runs: dict[str, list[float]] = {"bare": [], "lethe": [], "lethe_stream": []}
    with LiveServer(bare_app()) as bare, LiveServer(lethe_app) as lethe:
        for url in (bare.url, lethe.url):
            timed(url, BODY, 20)  # warm-up
        for _ in range(args.rounds):
            runs["bare"] += timed(bare.url, BODY, args.requests)
            runs["lethe"] += timed(lethe.url, BODY, args.requests)
            runs["lethe_stream"] += timed(lethe.url, {**BODY, "stream": True}, args.requests)
    result = {
        "load_average": load_average(),
        **{f"{name}_ms_p50": round(median(v), 2) for name, v in runs.items()},
        **{f"{name}_ms_p95": round(percentile(v, 95), 2) for name, v in runs.items()},
        "added_ms_p50": round(median(runs["lethe"]) - median(runs["bare"]), 2),
        "ratio_p50": round(median(runs["lethe"]) / median(runs["bare"]), 2),
    }
    for key, value in result.items():
        print(f"{key:>20}: {value}")
    save("gateway_floor", result)


if __name__ == "__main__":
    main()
