"""fp32 vs bf16 on this CPU: decode-step time, prefill time and whether greedy answers change.

Backs the ``dtype=auto`` rule (bf16 only on CPUs with native bf16: AVX512-BF16 or AMX).

    python -m benchmarks.dtype_choice [--questions 12] [--tokens 32]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import torch

from benchmarks.common import load_average, load_embedded, median, save
from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.decoders.hf.kv_cache import new_cache
from lethe.decoders.hf.loader import cpu_has_native_bf16

QUESTIONS = [
    "What is the capital of France?",
    "Who wrote Hamlet?",
    "What is the chemical symbol for gold?",
    "Who developed the theory of relativity?",
    "What is the capital of Japan?",
    "Who painted the Mona Lisa?",
    "What planet is known as the red planet?",
    "Who founded Microsoft?",
    "What is the boiling point of water in Celsius?",
    "Who discovered penicillin?",
    "What is the capital of Germany?",
    "Who wrote Harry Potter?",
]


def step_times(model, batch: int, prompt_len: int = 200, steps: int = 12) -> tuple[float, float]:
    """(prefill seconds, median decode-step seconds) at ``batch`` rows."""
    ids = torch.randint(100, 20000, (batch, prompt_len))
    with torch.inference_mode():
        started = time.perf_counter()
        cache = new_cache()
        model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        prefill = time.perf_counter() - started
        token, times = torch.full((batch, 1), 5), []
        for _ in range(steps):
            started = time.perf_counter()
            model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
            times.append(time.perf_counter() - started)
    return prefill, median(times)


async def answers(engine: HFEngine, questions: list[str], tokens: int) -> list[str]:
    """Greedy answers, one request at a time."""
    result = []
    for q in questions:
        turn = Turn.chat(
            "b", [Message("user", q)], SamplingParams(max_tokens=tokens, temperature=0)
        )
        result.append("".join([o.text async for o in engine.generate(turn)]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    threads = HFEngineConfig().worker_threads
    torch.set_num_threads(threads)  # as the engine's worker decodes
    result: dict = {
        "native_bf16": cpu_has_native_bf16(),
        "threads": threads,
        "load_average": load_average(),
    }
    texts = {}
    for dtype in ("float32", "bfloat16"):
        loaded = load_embedded(dtype)
        for batch in (1, 4):
            prefill, step = step_times(loaded.model, batch)
            result[f"{dtype}_b{batch}_prefill200_ms"] = round(prefill * 1000, 1)
            result[f"{dtype}_b{batch}_step_ms"] = round(step * 1000, 1)
            print(
                f"{dtype} batch {batch}: prefill(200) {prefill * 1000:7.1f} ms, "
                f"step {step * 1000:6.1f} ms"
            )
        engine = HFEngine.from_loaded(loaded, HFEngineConfig())
        texts[dtype] = asyncio.run(answers(engine, QUESTIONS[: args.questions], args.tokens))
        engine.close()
    same = sum(a == b for a, b in zip(texts["float32"], texts["bfloat16"], strict=True))
    result["same_greedy_answers"] = f"{same}/{len(texts['float32'])}"
    result["bf16_over_fp32_step_b1"] = round(
        result["bfloat16_b1_step_ms"] / result["float32_b1_step_ms"], 3
    )
    result["bf16_over_fp32_prefill_b1"] = round(
        result["bfloat16_b1_prefill200_ms"] / result["float32_b1_prefill200_ms"], 3
    )
    print(
        f"identical greedy answers: {result['same_greedy_answers']}; "
        f"bf16/fp32 step {result['bf16_over_fp32_step_b1']}, "
        f"prefill {result['bf16_over_fp32_prefill_b1']}; native bf16: {result['native_bf16']}"
    )
    print(f"saved {save('dtype_choice', result)}")


if __name__ == "__main__":
    main()
