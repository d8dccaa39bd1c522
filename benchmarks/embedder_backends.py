"""Embedder backends side by side: torch, ONNX Runtime fp32 and int8, on 1 and 2 threads.

Usage (from the repo root; the default run takes ~5 minutes on 2 cores)::

    python -m benchmarks.embedder_backends                     # 3 rounds, 100k-target scope
    python -m benchmarks.embedder_backends --rounds 1 --scope-n 10000 --bulk 100   # quick look
    python -m benchmarks.embedder_backends --backends onnx-int8 --threads 1

Per backend and thread count (the same count for queries and bulk batches), each round measures:

* ``query``: one short query embedded alone (p50/p95);
* ``add``: ``TargetStore.add`` of one small target (name, 2 aliases, 2 Q/A pairs: 2 embedded
  texts) until searchable, on a store holding the bulk import below (p50/p95; goal <= 50 ms);
* ``bulk``: ``TargetStore.add_many`` of ``--bulk`` such targets: targets/s (goal >= 200/s) and
  the share of it spent embedding;
* ``scope``: the scope lookup at ``--scope-n`` targets, embed + FAISS + lexical, over one
  snapshot of *synthetic* vectors shared by all backends (only the query is embedded; in real
  use the stored vectors come from the same embedder) (p50/p95; goal <= 10 ms at 100k).

Rounds interleave the configurations so that a noisy minute hits all of them; the table shows
the median over rounds of each p50/p95/rate and the ratio to torch on the same thread count.
Quality: each ONNX backend's cosine to torch over ~400 varied texts (min, 1st percentile, mean)
and the overlap of its top-10 neighbours with torch's, embedded one text per call as queries are
and in bulk slices as targets are. Check ``uptime`` first: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.indices_common import (
    TimedEmbedder,
    header,
    pool_sentences,
    query_texts,
    save,
    small_target,
    stats_ms,
)
from benchmarks.indices_scope import build_snapshot
from lethe.indices import Embedder, SentenceTransformerEmbedder, StoreConfig, TargetStore
from lethe.indices.encoding import chunks_of, embed_in_slices
from lethe.indices.onnx_embedder import OnnxEmbedder

CACHE = Path(__file__).resolve().parent.parent / ".lethe-cache" / "embedders"


def make_embedder(backend: str, threads: int) -> Embedder:
    """A loaded embedder of ``backend`` running on ``threads`` threads for every call."""
    emb: Any
    if backend == "torch":
        emb = SentenceTransformerEmbedder(small_batch_threads=threads, batch_threads=threads)
    else:
        precision = "int8" if backend == "onnx-int8" else "fp32"
        emb = OnnxEmbedder(
            precision=precision, cache_dir=CACHE, small_batch_threads=threads,
            batch_threads=threads,
        )  # fmt: skip
    emb.load()
    return emb


def query_latency(emb: Embedder, texts: list[str]) -> dict[str, float]:
    for text in texts[:10]:
        emb.embed([text])
    times = []
    for text in texts:
        started = time.perf_counter()
        emb.embed([text])
        times.append(time.perf_counter() - started)
    return stats_ms(times)


def store_round(emb: Embedder, bulk: int, adds: int, round_no: int) -> dict[str, Any]:
    """Bulk import then single adds on a fresh store in a temporary directory."""
    timed = TimedEmbedder(emb)
    with tempfile.TemporaryDirectory() as tmp:
        store = TargetStore.open(Path(tmp), timed, config=StoreConfig(background=True))
        started = time.perf_counter()
        result = store.add_many(small_target(i, f"r{round_no}b") for i in range(bulk))
        elapsed = time.perf_counter() - started
        assert len(result.added) == bulk, result.errors[:3]
        rate, share = bulk / elapsed, timed.seconds / elapsed
        times = []
        for i in range(adds):
            target = small_target(100_000 + i, f"r{round_no}a")
            started = time.perf_counter()
            store.add(target)
            times.append(time.perf_counter() - started)
            assert store.snapshot.lexical_hits(target.name)  # searchable on return
        store.close()
    return {"bulk_rate": rate, "embed_share": share, "add": stats_ms(times)}


def scope_latency(emb: Embedder, snap: Any, texts: list[str]) -> dict[str, float]:
    for text in texts[:10]:
        snap.scope(text, emb.embed([text]), k=10)
    times = []
    for text in texts:
        started = time.perf_counter()
        snap.scope(text, emb.embed([text]), k=10)
        times.append(time.perf_counter() - started)
    return stats_ms(times)


def quality(ref: Embedder, emb: Embedder, texts: list[str]) -> dict[str, float]:
    """Cosine to ``ref`` per text, and top-10 neighbour overlap (queries alone, pool in slices)."""
    singles = np.concatenate([emb.embed([t]) for t in texts])
    sliced = embed_in_slices(emb, texts)
    ref_singles = np.concatenate([ref.embed([t]) for t in texts])
    ref_sliced = embed_in_slices(ref, texts)
    cos = np.sum(singles * ref_singles, axis=1)
    queries, pool = slice(0, len(texts) // 4), slice(len(texts) // 4, None)
    mine = np.argsort(-(singles[queries] @ sliced[pool].T), axis=1)[:, :10]
    theirs = np.argsort(-(ref_singles[queries] @ ref_sliced[pool].T), axis=1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(mine, theirs, strict=True)])
    return {
        "cos_min": float(cos.min()),
        "cos_p1": float(np.percentile(cos, 1)),
        "cos_mean": float(cos.mean()),
        "self_batch_min": float(np.min(np.sum(singles * sliced, axis=1))),
        "top10_overlap": float(overlap),
    }


def quality_texts() -> list[str]:
    """~400 varied texts: queries, pool sentences, target chunks, other languages, a long one."""
    chunks = [c.text for i in range(40) for c in chunks_of(small_target(i))]
    extra = ["", "東京はどこですか", "Wie spät ist es in Berlin?", "¿Dónde está la biblioteca?"]
    long = "Albert Einstein developed the theory of relativity in Bern and Berlin. " * 20
    return query_texts(100, 40) + pool_sentences(220) + chunks + extra + [long]


def median_of(rows: list[dict[str, Any]], *path: str) -> float:
    values = []
    for row in rows:
        value: Any = row
        for key in path:
            value = value[key]
        values.append(float(value))
    return statistics.median(values)


def summarise(name: str, rows: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "query_p50": median_of(rows, "query", "p50"),
        "query_p95": median_of(rows, "query", "p95"),
        "add_p50": median_of(rows, "store", "add", "p50"),
        "add_p95": median_of(rows, "store", "add", "p95"),
        "bulk_rate": median_of(rows, "store", "bulk_rate"),
        "embed_share": median_of(rows, "store", "embed_share"),
        "scope_p50": median_of(rows, "scope", "p50"),
        "scope_p95": median_of(rows, "scope", "p95"),
        "load": median_of(rows, "load"),
    }


def print_table(summary: dict[str, dict[str, float]], scope_n: int) -> None:
    print(
        f"\n{'backend':<16}{'query p50/p95 ms':>18}{'add p50/p95 ms':>18}{'bulk t/s':>10}"
        f"{'embed%':>8}{f'scope@{scope_n // 1000}k p50/p95':>22}{'load':>6}"
    )
    for name, s in summary.items():
        torch_name = "torch/" + name.split("/")[1]
        base = summary.get(torch_name, s)
        print(
            f"{name:<16}{s['query_p50']:>8.2f} /{s['query_p95']:>6.2f}  "
            f"{s['add_p50']:>8.1f} /{s['add_p95']:>6.1f}  {s['bulk_rate']:>8.0f}"
            f"{s['embed_share']:>8.0%}{s['scope_p50']:>13.2f} /{s['scope_p95']:>6.2f}"
            f"{s['load']:>6.2f}"
        )
        if base is not s:
            print(
                f"{'  x torch':<16}{base['query_p50'] / s['query_p50']:>8.2f}x{'':>8}"
                f"{base['add_p50'] / s['add_p50']:>8.2f}x{'':>8}"
                f"{s['bulk_rate'] / base['bulk_rate']:>8.2f}x{'':>8}"
                f"{base['scope_p50'] / s['scope_p50']:>13.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--bulk", type=int, default=300)
    parser.add_argument("--adds", type=int, default=40)
    parser.add_argument("--scope-n", type=int, default=100_000)
    args = parser.parse_args()
    header("embedder_backends: torch vs ONNX Runtime fp32 / int8")
    configs = [(b, int(t)) for b in args.backends.split(",") for t in args.threads.split(",")]
    embedders = {f"{b}/{t}": make_embedder(b, t) for b, t in configs}
    ref = embedders.get("torch/1") or make_embedder("torch", 1)
    snap, _ = build_snapshot(args.scope_n, ref.embed(pool_sentences(3000)), 100_000)
    texts = query_texts(args.queries, known=args.scope_n)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in embedders}
    for round_no in range(args.rounds):
        for name, emb in embedders.items():
            row = {"load": os.getloadavg()[0], "query": query_latency(emb, texts)}
            row["store"] = store_round(emb, args.bulk, args.adds, round_no)
            row["scope"] = scope_latency(emb, snap, texts)
            rows[name].append(row)
            print(
                f"   round {round_no + 1} {name:<13} load {row['load']:.2f}  query p50 "
                f"{row['query']['p50']:.2f} ms  add p50 {row['store']['add']['p50']:.1f} ms  "
                f"bulk {row['store']['bulk_rate']:.0f}/s  scope p50 {row['scope']['p50']:.2f} ms",
                flush=True,
            )
    summary = {name: summarise(name, r) for name, r in rows.items()}
    print_table(summary, args.scope_n)
    qual = {n: quality(ref, e, quality_texts()) for n, e in embedders.items() if n.endswith("/1")}
    print("\nquality against torch (cosine per text; top-10 neighbour overlap):")
    for name, q in qual.items():
        print(
            f"   {name:<13} cos min {q['cos_min']:.4f}  p1 {q['cos_p1']:.4f}  mean "
            f"{q['cos_mean']:.5f}  alone~in-slice min {q['self_batch_min']:.4f}  "
            f"top-10 overlap {q['top10_overlap']:.3f}"
        )
    path = save("embedder_backends", {"args": vars(args), "summary": summary, "quality": qual})
    print(f"   saved {path}")


if __name__ == "__main__":
    main()
