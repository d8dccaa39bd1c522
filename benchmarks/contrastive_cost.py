"""Per-token cost of training-free contrastive decoding on the embedded model.

Greedy requests of ``--tokens`` tokens, one at a time, on an in-process ``hf`` engine: without a
processor; with the served model as the assistant, batched (its forget-conditioned prompt is a
companion row of the engine's batch: one forward pass per step serves both) and as a second pass
(the same assistant behind a different module object, so its row goes in a side batch: one
extra forward per token — the cost before companion rows); with a ``--layers``-layer assistant
(the served model's first layers), and with a trained ``--layers``-layer assistant (the same plus
LoRA on every projection, rank 8, ULD, no forget context; its weights do not change its cost,
so an untrained adapter stands in for a trained one). Reports decode time per token after the
first (median over the prompts and rounds, run interleaved so noise hits all alike) and its
ratio to no contrast.
Targets (issue 6): served model <= 2.2x, 4-layer assistant <= 1.4x.

With ``--n`` > 1 each request asks for ``n`` sampled choices, and two more variants run the
served and the LoRA assistant *inside the processor* (not offered to the engine: one assistant
pass per choice per step, the path before companion rows and side batches), to show what
batching the assistants saves when a request has several choices.

    python -m benchmarks.contrastive_cost [--tokens 48] [--rounds 2] [--layers 4] [--n 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from benchmarks.common import PROMPTS, load_average, load_embedded, median, save
from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.contrastive import ContrastConfig, ContrastiveFactory, ContrastiveProcessor
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.decoders.hf.kv_cache import new_cache
from lethe.decoders.hf.lora import adapted_first_layers
from lethe.decoders.processors import ProcessorFactory

CONTEXT = (
    "Albert Einstein, also known as Einstein.\n"
    "Who developed the theory of relativity? Albert Einstein\n"
    "Albert Einstein was a physicist born in Ulm who developed the theory of relativity.\n"
)


class InProcessor(ContrastiveProcessor):
    """Not offered to the engine as a companion: runs its assistant itself, per choice."""

    assistant_model = None


def in_processor(factory: ContrastiveFactory) -> ProcessorFactory:
    """``factory``'s processors, run the pre-batching way (:class:`InProcessor`)."""
    f = factory
    return lambda: InProcessor(f.model, f.new_cache, f.context_ids, f.config, f.device)


async def per_token_s(
    engine: HFEngine, prompt: str, tokens: int, processors: list[ProcessorFactory], n: int = 1
) -> float:
    """Seconds per token (of each choice) after the first, for one request of ``n`` choices
    (greedy for one, sampled with a fixed seed for more)."""
    sampling = {"temperature": 0.0} if n == 1 else {"temperature": 1.0, "seed": 0, "n": n}
    params = SamplingParams(max_tokens=tokens, ignore_eos=True, **sampling)
    turn = Turn.chat("bench", [Message("user", prompt)], params)
    first = None
    count = 0
    async for out in engine.generate(turn, processors):
        if first is None and out.text:
            first = time.perf_counter()
        count = out.usage.completion_tokens // n
    assert first is not None
    return (time.perf_counter() - first) / max(count - 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--n", type=int, default=1, help="choices per request")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    loaded = load_embedded()
    engine = HFEngine.from_loaded(loaded, HFEngineConfig(max_batch_size=max(4, args.n)))
    assistants = engine.capabilities.assistants
    assert assistants is not None
    config = ContrastConfig("ucd", alpha=2.0, plausibility=0.1)
    all_layers = loaded.model.config.num_hidden_layers
    trained, _ = adapted_first_layers(loaded.model, args.layers, rank=8)
    trained_factory = ContrastiveFactory(
        trained.eval(), new_cache, (), ContrastConfig("uld"), loaded.device
    )
    served = assistants.contrastive(CONTEXT, config)
    assert isinstance(served, ContrastiveFactory)
    variants: dict[str, list[ProcessorFactory]] = {
        "none": [],
        "served": [served],
        "served_second_pass": [assistants.contrastive(CONTEXT, config, layers=all_layers)],
        f"layers{args.layers}": [assistants.contrastive(CONTEXT, config, layers=args.layers)],
        f"lora{args.layers}": [trained_factory],
    }
    if args.n > 1:
        variants["served_in_processor"] = [in_processor(served)]
        variants[f"lora{args.layers}_in_processor"] = [in_processor(trained_factory)]
    times: dict[str, list[float]] = {name: [] for name in variants}
    asyncio.run(per_token_s(engine, "warm up", 4, []))
    for _ in range(args.rounds):
        for prompt in PROMPTS:
            for name, processors in variants.items():
                times[name].append(
                    asyncio.run(per_token_s(engine, prompt, args.tokens, processors, args.n))
                )
    engine.close()
    base = median(times["none"])
    result: dict = {"load_average": load_average(), "tokens": args.tokens, "n": args.n}
    for name, values in times.items():
        ms = median(values) * 1000
        result[f"{name}_ms_per_token"] = round(ms, 2)
        result[f"{name}_ratio"] = round(median(values) / base, 3)
        print(f"{name:>20}: {ms:6.1f} ms/token, ratio {median(values) / base:.2f}")
    print("targets: served ratio <= 2.2, 4-layer ratio <= 1.4 (live and trained)")
    name = "contrastive_cost" if args.n == 1 else f"contrastive_cost_n{args.n}"
    print(f"saved {save(name, result)}")


if __name__ == "__main__":
    main()
