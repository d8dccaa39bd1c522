"""What the unlearning pipeline costs a request that touches no target, with 10k targets.

Usage (from the repo root; ~4 minutes on 2 cores)::

    python -m benchmarks.unlearning_overhead                     # 10k targets, 3 rounds
    python -m benchmarks.unlearning_overhead --targets 100000 --rounds 1

Set-up: the embedded SmolLM2 in the ``hf`` engine, and a real target store (SQLite registry,
FAISS, lexical automaton, the default ONNX embedder) holding ``--targets`` targets. Their
vectors are *synthetic* (real sentence embeddings + noise, see ``indices_common``: embedding
10k targets for real takes minutes) and their names are made-up, so ordinary prompts hit none.

Each round sends every prompt of ``PROMPTS`` twice, alternating: straight to the engine (the
bare model) and through :class:`~lethe.gateway.unlearning.UnlearningPipeline` with the packaged
configuration (scope check, lexical output filter). Greedy, ``--tokens`` tokens, EOS ignored.
Measured per request: time to the first non-empty text delta the caller receives (TTFT) and the
rate after it, (tokens - 1) / (end - first). Printed: median TTFT of each side and the median of
the paired differences (target: <= 10 ms), the ratio of the median rates (target >= 0.97), the
scope check's own median (it runs while the bare decode's prefill does: see
``UnlearningPipeline._decide``), and whether every output matched the bare one token for token.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from benchmarks.common import PROMPTS, load_average, load_embedded, median, save
from benchmarks.indices_common import pool_sentences
from benchmarks.indices_registry import fill
from lethe.decoders import Engine, Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.gateway.unlearning import Trace, UnlearningPipeline
from lethe.gateway.unlearning_config import UnlearningConfig
from lethe.indices import OnnxEmbedder, StoreConfig, TargetStore

CACHE = Path(__file__).resolve().parents[1] / ".lethe-cache" / "embedders"
EXTRA_PROMPTS = [
    "How do plants make their food?",
    "Give me three tips for learning a new language.",
]


async def timed(run, turn: Turn) -> tuple[float, float, int, str]:
    """(TTFT s, decode tok/s after the first token, tokens, text) of one streamed request."""
    started = time.perf_counter()
    first = None
    text, tokens = "", 0
    async for out in run(turn):
        if first is None and out.text:
            first = time.perf_counter()
        text += out.text
        tokens = max(tokens, out.usage.completion_tokens)
    end = time.perf_counter()
    assert first is not None, "no text came back"
    rate = (tokens - 1) / (end - first) if end > first else float("nan")
    return first - started, rate, tokens, text


def open_store(data: Path, targets: int) -> TargetStore:
    """A store of ``targets`` synthetic targets, served by the real (ONNX) embedder."""
    embedder = OnnxEmbedder(cache_dir=CACHE)
    embedder.load()
    pool = embedder.embed(pool_sentences(3000))
    seconds = fill(data, targets, 0, pool)
    print(f"-- registry: {targets:,} targets written in {seconds:.1f} s")
    return TargetStore.open(data, embedder, config=StoreConfig(background=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    engine: Engine = HFEngine.from_loaded(load_embedded(), HFEngineConfig(max_batch_size=8))
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp), args.targets)
        pipeline = UnlearningPipeline(engine, store, UnlearningConfig.load())
        result = asyncio.run(measure(engine, pipeline, args))
        store.close()
    engine.close()  # type: ignore[attr-defined]
    result |= {"targets": args.targets, "tokens": args.tokens, "load_average": load_average()}
    print(
        f"\nTTFT p50: bare {result['ttft_bare_ms']} ms, Lethe {result['ttft_lethe_ms']} ms, "
        f"added (paired median) {result['ttft_added_ms']} ms (target <= 10)\n"
        f"decode tok/s p50: bare {result['tps_bare']}, Lethe {result['tps_lethe']}, ratio "
        f"{result['tps_ratio']} (target >= 0.97)\n"
        f"scope check p50 {result['scope_ms']} ms (overlapped with the prefill); in scope: "
        f"{result['in_scope']} requests; outputs identical: {result['identical']}"
        f" / {result['requests']}; load {result['load_average']:.2f}"
    )
    print(f"saved {save('unlearning_overhead', result)}")


async def measure(engine: Engine, pipeline: UnlearningPipeline, args: argparse.Namespace) -> dict:
    """Alternate bare and guarded requests; collect paired TTFTs, rates and equality."""
    params = SamplingParams(max_tokens=args.tokens, temperature=0, ignore_eos=True)
    prompts = PROMPTS + EXTRA_PROMPTS
    traces: list[Trace] = []

    def guarded(turn: Turn):
        traces.append(Trace())
        return pipeline.generate(turn, traces[-1])

    warm = Turn.chat("warm", [Message("user", "warm up")], params)
    await timed(engine.generate, warm)
    await timed(guarded, warm)
    traces.clear()
    bare_ttft, lethe_ttft, added, bare_tps, lethe_tps, same = [], [], [], [], [], 0
    for round_no in range(args.rounds):
        for i, prompt in enumerate(prompts):
            turn = Turn.chat(f"r{round_no}-{i}", [Message("user", prompt)], params)
            order = (engine.generate, guarded) if i % 2 == 0 else (guarded, engine.generate)
            runs = {fn: await timed(fn, turn) for fn in order}
            b, g = runs[engine.generate], runs[guarded]
            bare_ttft.append(b[0])
            lethe_ttft.append(g[0])
            added.append(g[0] - b[0])
            bare_tps.append(b[1])
            lethe_tps.append(g[1])
            same += b[3] == g[3]
            print(
                f"round {round_no} #{i}: TTFT bare {b[0] * 1e3:6.1f} ms Lethe {g[0] * 1e3:6.1f} "
                f"ms | tok/s {b[1]:5.1f} vs {g[1]:5.1f} | same: {b[3] == g[3]}"
            )
    return {
        "ttft_bare_ms": round(median(bare_ttft) * 1e3, 1),
        "ttft_lethe_ms": round(median(lethe_ttft) * 1e3, 1),
        "ttft_added_ms": round(median(added) * 1e3, 1),
        "tps_bare": round(median(bare_tps), 2),
        "tps_lethe": round(median(lethe_tps), 2),
        "tps_ratio": round(median(lethe_tps) / median(bare_tps), 3),
        "scope_ms": round(median([t.scope_ms for t in traces]), 1),
        "in_scope": sum(any(v.decision != "pass" for v in t.verdicts) for t in traces),
        "identical": same,
        "requests": len(added),
    }


if __name__ == "__main__":
    main()
