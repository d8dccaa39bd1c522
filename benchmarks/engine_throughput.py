"""Tokens/s of Lethe's decoding loop vs. transformers ``generate()``, single stream, same prompts.

Each prompt decodes exactly ``--tokens`` tokens both ways (EOS ignored), greedy, alternating the
two loops so that machine noise hits both alike. Prints per-run numbers, medians, the ratio
(target >= 0.95) and our time to first token.

    python -m benchmarks.engine_throughput [--tokens 128] [--rounds 3] [--dtype auto] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import torch

from benchmarks.common import PROMPTS, load_average, load_embedded, median, save
from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine


async def ours(engine: HFEngine, prompt: str, tokens: int) -> tuple[float, float, int]:
    """(seconds, time to first token, tokens) for one request through our loop."""
    params = SamplingParams(max_tokens=tokens, temperature=0, ignore_eos=True)
    turn = Turn.chat("bench", [Message("user", prompt)], params)
    started = time.perf_counter()
    first = None
    usage = None
    async for out in engine.generate(turn):
        if first is None:
            first = time.perf_counter() - started
        usage = out.usage
    assert usage is not None and first is not None
    return time.perf_counter() - started, first, usage.completion_tokens


def theirs(loaded, prompt: str, tokens: int) -> tuple[float, int]:
    """(seconds, tokens) for the same request through ``model.generate``."""
    tok = loaded.tokenizer
    inputs = tok.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt"
    )
    started = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(
            **inputs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False
        )
    return time.perf_counter() - started, out.shape[1] - inputs["input_ids"].shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="default: CPU count - 1")
    args = parser.parse_args()

    loaded = load_embedded(args.dtype)
    config = HFEngineConfig(max_batch_size=8, threads=args.threads)
    engine = HFEngine.from_loaded(loaded, config)
    torch.set_num_threads(config.worker_threads)  # generate() runs here: same threads as ours
    asyncio.run(ours(engine, "warm up", 8))
    theirs(loaded, "warm up", 8)
    ours_tps, theirs_tps, ttfts = [], [], []
    for round_no in range(args.rounds):
        for prompt in PROMPTS:
            secs, ttft, n = asyncio.run(ours(engine, prompt, args.tokens))
            ours_tps.append(n / secs)
            ttfts.append(ttft)
            secs_g, n_g = theirs(loaded, prompt, args.tokens)
            theirs_tps.append(n_g / secs_g)
            print(
                f"round {round_no} ours {ours_tps[-1]:6.1f} tok/s (ttft {ttft * 1000:5.0f} ms)"
                f"  generate() {theirs_tps[-1]:6.1f} tok/s"
            )
    engine.close()
    ratio = median(ours_tps) / median(theirs_tps)
    result = {
        "dtype": str(loaded.dtype),
        "threads": config.worker_threads,
        "tokens": args.tokens,
        "ours_tok_s_median": round(median(ours_tps), 2),
        "generate_tok_s_median": round(median(theirs_tps), 2),
        "ratio": round(ratio, 3),
        "ttft_ms_median": round(median(ttfts) * 1000, 1),
        "load_average": load_average(),
    }
    print(
        f"\nours {result['ours_tok_s_median']} tok/s, generate() "
        f"{result['generate_tok_s_median']} tok/s, ratio {ratio:.3f} (target >= 0.95), "
        f"TTFT median {result['ttft_ms_median']} ms, load {result['load_average']:.2f}"
    )
    print(f"saved {save('engine_throughput', result)}")


if __name__ == "__main__":
    main()
