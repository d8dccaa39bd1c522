"""1, 4 and 8 concurrent streaming clients (the official ``openai`` client) against a live
gateway on the real model: errors, aggregate tokens/s, per-request TTFT. Target: aggregate
tokens/s at 4 clients >= 2.5x one client's, no errors.

    python -m benchmarks.concurrency [--clients 1,4,8] [--requests 2] [--tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

import openai

from benchmarks.common import PROMPTS, load_average, load_embedded, median, percentile, save
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.gateway.app import create_app
from lethe.gateway.settings import Settings
from tests.gateway.live import LiveServer


async def one_client(
    client: openai.AsyncOpenAI, model: str, worker: int, requests: int, tokens: int
) -> tuple[int, list[float], int]:
    """(completion tokens, TTFTs in ms, errors) for one client's sequential requests."""
    total, ttfts, errors = 0, [], 0
    for i in range(requests):
        prompt = PROMPTS[(worker + i) % len(PROMPTS)]
        started = time.perf_counter()
        first = None
        try:
            stream = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=tokens,
                temperature=0.7,
                seed=worker * 100 + i,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter()
                if chunk.usage:
                    total += chunk.usage.completion_tokens
            ttfts.append(((first or time.perf_counter()) - started) * 1000)
        except openai.APIError:
            errors += 1
    return total, ttfts, errors


async def level(url: str, model: str, clients: int, requests: int, tokens: int) -> dict:
    """Run ``clients`` concurrent clients; aggregate their numbers."""
    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=600)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(one_client(client, model, w, requests, tokens) for w in range(clients))
    )
    wall = time.perf_counter() - started
    await client.close()
    tokens_total = sum(r[0] for r in results)
    ttfts = [t for r in results for t in r[1]]
    return {
        "clients": clients,
        "errors": sum(r[2] for r in results),
        "completion_tokens": tokens_total,
        "wall_s": round(wall, 2),
        "aggregate_tok_s": round(tokens_total / wall, 2),
        "ttft_ms_p50": round(median(ttfts), 1),
        "ttft_ms_p95": round(percentile(ttfts, 95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--requests", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, default=None, help="engine threads (default: CPUs - 1)"
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)
    engine = HFEngine.from_loaded(
        load_embedded(), HFEngineConfig(max_batch_size=8, threads=args.threads)
    )
    levels = []
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="lethe-bench-")))
    with LiveServer(create_app(settings, engine=engine)) as server:
        asyncio.run(level(server.url, engine.model_id, 1, 1, 4))  # warm-up
        for clients in (int(c) for c in args.clients.split(",")):
            levels.append(
                asyncio.run(level(server.url, engine.model_id, clients, args.requests, args.tokens))
            )
            print(levels[-1])
    engine.close()
    by_clients = {lv["clients"]: lv for lv in levels}
    result: dict = {"load_average": load_average(), "levels": levels}
    if 1 in by_clients and 4 in by_clients:
        result["speedup_4_vs_1"] = round(
            by_clients[4]["aggregate_tok_s"] / by_clients[1]["aggregate_tok_s"], 2
        )
        print(
            f"aggregate tok/s at 4 clients / 1 client: {result['speedup_4_vs_1']} (target >= 2.5)"
        )
    print(f"errors: {sum(lv['errors'] for lv in levels)}")
    print(f"saved {save('concurrency', result)}")


if __name__ == "__main__":
    main()
