"""Streaming through the HTTP gateway vs. calling the engine directly, on the real model.

The gateway runs as a deployment runs it: ``lethe serve`` in its own process (same model, same
weights cache, same settings). The direct baseline is an engine in this process. Requests
alternate between the two, so only one computes at a time and machine noise hits both alike;
greedy, so both produce the same tokens. Reports tokens/s after the first token and time to
first token (first content). Targets: tokens/s ratio >= 0.95, added TTFT <= 5 ms p50.

Prefill alone varies by +-10% (~20 ms) from run to run on a 2-core machine, far more than the
overhead being measured, so the added TTFT is the median of *paired* differences: ``--pairs``
one-token requests, each prompt sent once directly and once over HTTP back to back, the order
alternating from pair to pair.

    python -m benchmarks.gateway_overhead [--tokens 96] [--rounds 3] [--pairs 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time

import httpx

from benchmarks.common import PROMPTS, load_average, load_embedded, median, percentile, save
from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from tests.gateway.serve_process import ServeProcess


async def direct(engine: HFEngine, prompt: str, tokens: int) -> tuple[float, float, int]:
    """(TTFT s, seconds after the first token, completion tokens) calling the engine."""
    turn = Turn.chat(
        "bench", [Message("user", prompt)], SamplingParams(max_tokens=tokens, temperature=0)
    )
    started = time.perf_counter()
    first = None
    usage = None
    async for out in engine.generate(turn):
        if first is None and out.text:
            first = time.perf_counter()
        usage = out.usage
    assert first is not None and usage is not None
    return first - started, time.perf_counter() - first, usage.completion_tokens


def over_http(
    client: httpx.Client, model: str, prompt: str, tokens: int
) -> tuple[float, float, int]:
    """The same measurement for the request streamed through the gateway."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first = None
    completion = 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and any(c["delta"].get("content") for c in chunk["choices"]):
                first = time.perf_counter()
            if chunk.get("usage"):
                completion = chunk["usage"]["completion_tokens"]
    assert first is not None
    return first - started, time.perf_counter() - first, completion


def paired_ttft(
    engine: HFEngine, client: httpx.Client, pairs: int
) -> tuple[list[float], list[float]]:
    """TTFT in ms of one-token requests, (direct, http), ``pairs`` back-to-back pairs."""
    direct_ms: list[float] = []
    http_ms: list[float] = []
    for i in range(pairs):
        prompt = PROMPTS[i % len(PROMPTS)]
        for name in ("direct", "http") if i % 2 == 0 else ("http", "direct"):
            if name == "direct":
                direct_ms.append(asyncio.run(direct(engine, prompt, 1))[0] * 1000)
            else:
                http_ms.append(over_http(client, engine.model_id, prompt, 1)[0] * 1000)
    return direct_ms, http_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=120, help="one-token pairs for TTFT")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    loaded = load_embedded(args.dtype)
    engine = HFEngine.from_loaded(loaded, HFEngineConfig(max_batch_size=8))
    runs: dict[str, dict[str, list[float]]] = {
        "direct": {"ttft": [], "tps": []},
        "http": {"ttft": [], "tps": []},
    }
    with (
        ServeProcess(env={"LETHE_DTYPE": args.dtype}) as server,
        httpx.Client(base_url=server.url, timeout=300) as client,
    ):
        asyncio.run(direct(engine, "warm up", 4))
        over_http(client, engine.model_id, "warm up", 4)
        for _ in range(args.rounds):
            for prompt in PROMPTS:
                for name in ("direct", "http"):
                    if name == "direct":
                        ttft, rest, n = asyncio.run(direct(engine, prompt, args.tokens))
                    else:
                        ttft, rest, n = over_http(client, engine.model_id, prompt, args.tokens)
                    runs[name]["ttft"].append(ttft * 1000)
                    runs[name]["tps"].append((n - 1) / rest)
                    print(f"{name:>6}: ttft {ttft * 1000:7.1f} ms, {(n - 1) / rest:6.1f} tok/s")
        pair_direct, pair_http = paired_ttft(engine, client, args.pairs)
    engine.close()
    added = [h - d for d, h in zip(pair_direct, pair_http, strict=True)]
    result = {
        "load_average": load_average(),
        "pairs": len(added),
        "direct_ttft_ms_p50": round(median(pair_direct), 2),
        "http_ttft_ms_p50": round(median(pair_http), 2),
        "added_ttft_ms_p50": round(median(added), 2),
        "added_ttft_ms_p25_p75": [round(percentile(added, 25), 2), round(percentile(added, 75), 2)],
        "direct_tok_s_p50": round(median(runs["direct"]["tps"]), 2),
        "http_tok_s_p50": round(median(runs["http"]["tps"]), 2),
        "tok_s_ratio": round(median(runs["http"]["tps"]) / median(runs["direct"]["tps"]), 3),
    }
    for key, value in result.items():
        print(f"{key:>20}: {value}")
    print("targets: tok_s_ratio >= 0.95, added_ttft_ms_p50 <= 5")
    print(f"saved {save('gateway_overhead', result)}")


if __name__ == "__main__":
    main()
