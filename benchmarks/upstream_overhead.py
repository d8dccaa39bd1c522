"""What Lethe on the ``upstream`` engine costs, against calling the upstream directly.

Usage (from the repo root; ~4 minutes on 2 cores)::

    python -m benchmarks.upstream_overhead [--rounds 3] [--tokens 64]

Two real processes: a bare ``lethe serve`` on SmolLM2 (no unlearning) as the upstream, and a
``lethe serve`` with ``LETHE_ENGINE=upstream`` in front of it (the default unlearning pipeline,
no targets registered). Each round streams every prompt of ``PROMPTS`` with the official
``openai`` client, greedy, alternating direct and through Lethe. Printed: the
median decode rate after the first token on each path and their ratio (target >= 0.95), the
median added TTFT, and whether the texts matched.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import openai

from benchmarks.common import PROMPTS, load_average, median, save
from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights

MODEL = "smollm2-135m-instruct"


def data_dir(root: Path, name: str) -> Path:
    """A fresh data dir sharing the cached, dequantised weights."""
    return data_dir_sharing_weights(root / name)


def stream(url: str, prompt: str, tokens: int) -> tuple[float, float, str]:
    """(TTFT s, tokens/s after the first token, text) of one streamed request."""
    client = openai.OpenAI(base_url=url + "/v1", api_key="-", max_retries=0, timeout=300)
    started = time.perf_counter()
    first, text, count = None, "", 0
    chunks = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            text += chunk.choices[0].delta.content
        if chunk.usage:
            count = chunk.usage.completion_tokens
    end = time.perf_counter()
    assert first is not None, "no text came back"
    return first - started, (count - 1) / (end - first), text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        up_env = {"LETHE_UNLEARNING": "false", "LETHE_EMBEDDER_PRELOAD": "false"}
        with ServeProcess(env=up_env, data_dir=data_dir(root, "up")) as upstream:
            tokenizer = sorted((root / "up" / "model-cache").glob("SmolLM2*/tokenizer.json"))
            env = {
                "LETHE_ENGINE": "upstream",
                "LETHE_UPSTREAM_URL": upstream.url + "/v1",
                "LETHE_TOKENIZER": str(tokenizer[0].parent),
            }
            with ServeProcess(env=env, data_dir=data_dir(root, "front")) as front:
                result = measure(upstream.url, front.url, args)
    result |= {"tokens": args.tokens, "load_average": load_average()}
    print(
        f"\ndecode tok/s p50: direct {result['tps_direct']}, through Lethe {result['tps_lethe']},"
        f" ratio {result['tps_ratio']} (target >= 0.95); TTFT p50 direct "
        f"{result['ttft_direct_ms']} ms, added {result['ttft_added_ms']} ms; identical texts "
        f"{result['identical']}/{result['requests']}; load {result['load_average']:.2f}"
    )
    print(f"saved {save('upstream_overhead', result)}")


def measure(direct_url: str, lethe_url: str, args: argparse.Namespace) -> dict:
    """Alternate direct and proxied requests; paired TTFT differences and rates."""
    stream(direct_url, "warm up", 4)
    stream(lethe_url, "warm up", 4)
    ttft_d, added, tps_d, tps_l, same = [], [], [], [], 0
    for round_no in range(args.rounds):
        for i, prompt in enumerate(PROMPTS):
            urls = (direct_url, lethe_url) if i % 2 == 0 else (lethe_url, direct_url)
            runs = {url: stream(url, prompt, args.tokens) for url in urls}
            d, g = runs[direct_url], runs[lethe_url]
            ttft_d.append(d[0])
            added.append(g[0] - d[0])
            tps_d.append(d[1])
            tps_l.append(g[1])
            same += d[2] == g[2]
            print(
                f"round {round_no} #{i}: TTFT direct {d[0] * 1e3:6.1f} ms, via Lethe "
                f"{g[0] * 1e3:6.1f} ms | tok/s {d[1]:5.1f} vs {g[1]:5.1f} | same {d[2] == g[2]}"
            )
    return {
        "ttft_direct_ms": round(median(ttft_d) * 1e3, 1),
        "ttft_added_ms": round(median(added) * 1e3, 1),
        "tps_direct": round(median(tps_d), 2),
        "tps_lethe": round(median(tps_l), 2),
        "tps_ratio": round(median(tps_l) / median(tps_d), 3),
        "identical": same,
        "requests": len(added),
    }


if __name__ == "__main__":
    main()
