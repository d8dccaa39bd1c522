"""Completion tokens per second of an OpenAI-compatible endpoint, with the ``openai`` client.

Used by ``benchmarks/gpu/vllm_check.sh`` to compare a Lethe gateway on the ``vllm`` engine with
and without unlearning; works against any endpoint::

    python benchmarks/gpu/throughput.py --base-url http://127.0.0.1:8101/v1 --label unlearning \
        --names-from http://127.0.0.1:8101 --admin-key "$LETHE_ADMIN_KEY"

``--requests`` chat requests, ``--concurrency`` in flight, greedy, ``--max-tokens`` each. Half
the prompts are ordinary; the other half ask about the forget targets registered at
``--names-from`` (a Lethe server root, read with the admin key), so that on a gateway with
unlearning those requests run in scope (prefix masks in vLLM, output filter). Without
``--names-from``, all prompts are ordinary. Prints one line of JSON: requests, completion
tokens, wall seconds, tokens/s, median and p90 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request

from openai import AsyncOpenAI

ORDINARY = [
    "Write a short paragraph about how bread is made.",
    "Explain how a bicycle works.",
    "Describe the water cycle for a child.",
    "What are the benefits of regular exercise?",
    "Give three tips for writing clear emails.",
    "Summarise how a refrigerator keeps food cold.",
]


def target_names(server: str, admin_key: str, limit: int = 50) -> list[str]:
    """The names of up to ``limit`` targets registered at a Lethe server."""
    request = urllib.request.Request(
        f"{server.rstrip('/')}/admin/targets?limit={limit}",
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return [t["name"] for t in json.load(response)["data"]]


def prompts(count: int, names: list[str]) -> list[str]:
    """``count`` prompts, every other one about a target when there are names."""
    out = []
    for i in range(count):
        if names and i % 2:
            out.append(f"Tell me everything you know about {names[(i // 2) % len(names)]}.")
        else:
            out.append(ORDINARY[i % len(ORDINARY)])
    return out


async def measure(args: argparse.Namespace, texts: list[str]) -> dict[str, float | int | str]:
    client = AsyncOpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0)
    model = args.model or (await client.models.list()).data[0].id
    gate = asyncio.Semaphore(args.concurrency)
    latencies: list[float] = []
    tokens = 0

    async def one(text: str) -> None:
        nonlocal tokens
        async with gate:
            started = time.perf_counter()
            reply = await client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": text}],
                max_tokens=args.max_tokens,
                temperature=0.0,
            )
            latencies.append(time.perf_counter() - started)
            tokens += reply.usage.completion_tokens if reply.usage else 0

    await one(texts[0])  # warm-up, not counted
    latencies.clear()
    tokens = 0
    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in texts))
    wall = time.perf_counter() - started
    await client.close()
    latencies.sort()
    return {
        "label": args.label,
        "requests": len(texts),
        "completion_tokens": tokens,
        "wall_s": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
        "latency_median_s": round(statistics.median(latencies), 3),
        "latency_p90_s": round(latencies[int(0.9 * (len(latencies) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--model")
    parser.add_argument("--label", default="endpoint")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--names-from", help="a Lethe server root whose targets to ask about")
    parser.add_argument("--admin-key", default="")
    args = parser.parse_args()
    names = target_names(args.names_from, args.admin_key) if args.names_from else []
    print(json.dumps(asyncio.run(measure(args, prompts(args.requests, names)))))


if __name__ == "__main__":
    main()
