"""Scope lookup latency (embed + FAISS + lexical) against the number of forget targets.

Usage (from the repo root; the default run takes a few minutes on 2 cores)::

    python -m benchmarks.indices_scope                       # 1k, 10k, 100k targets
    python -m benchmarks.indices_scope --sizes 1000,1000000  # 1M adds ~7 min and ~8 GB RAM

Each size builds the same structures the store serves from (an ``IndexSnapshot`` over a
``SemanticIndex`` and a lexical automaton), with 2 vectors a target (name + one content chunk).
Target vectors are *synthetic* (real embeddings of a sentence pool plus noise, see
``indices_common``); every query is embedded with the real all-MiniLM-L6-v2 (``--backend``:
the default ONNX Runtime embedder, or torch). Printed per size:
p50/p95 of the query embedding, the FAISS search, the lexical match, the whole scope call, build
times, HNSW recall@10 against exact search, and RSS growth. Targets: total p50 <= 10 ms and FAISS
<= 1 ms at 100k; the slope line says how total p50 grows per 10x more targets.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from benchmarks.indices_common import (
    fmt,
    header,
    name_of,
    pool_sentences,
    query_texts,
    rss_mb,
    save,
    stats_ms,
    synthetic_vectors,
)
from lethe.indices.embedder import Embedder, SentenceTransformerEmbedder
from lethe.indices.onnx_embedder import OnnxEmbedder
from lethe.indices.semantic import SemanticIndex
from lethe.indices.snapshot import Base, IndexSnapshot, TargetEntry
from lethe.indices.targets import ForgetTarget, Policy

POLICY = Policy()
CACHE = Path(__file__).resolve().parents[1] / ".lethe-cache" / "embedders"


def build_snapshot(n: int, pool: np.ndarray, exact_limit: int) -> tuple[IndexSnapshot, dict]:
    """A snapshot of ``n`` synthetic targets; returns it and the build timings."""
    t0 = time.perf_counter()
    entries = {}
    for i in range(n):
        t = ForgetTarget.model_construct(
            id=f"t{i}", kind="entity", name=name_of(i), aliases=(), forbidden=(), content=(),
            retain=(), policy=POLICY, scope="global", reason="", created_at=None, expires_at=None,
        )  # fmt: skip
        entries[t.id] = TargetEntry.of(t, 1)
    t1 = time.perf_counter()
    base = Base.build(entries, 1)
    t2 = time.perf_counter()
    semantic = SemanticIndex(pool.shape[1], exact_limit=exact_limit)
    step = 50_000
    for start in range(0, n, step):
        stop = min(n, start + step)
        vectors = synthetic_vectors(pool, 2 * (stop - start), seed=start)
        semantic.put_many((f"t{i}", vectors[2 * (i - start) : 2 * (i - start) + 2], "nc")
                          for i in range(start, stop))  # fmt: skip
    t3 = time.perf_counter()
    semantic.rebuild()  # exact -> HNSW when above exact_limit
    t4 = time.perf_counter()
    timings = {
        "targets_s": t1 - t0,
        "lexical_build_s": t2 - t1,
        "faiss_add_s": t3 - t2,
        "hnsw_build_s": t4 - t3,
        "mode": semantic.stats().mode,
    }
    return IndexSnapshot(1, base, {}, semantic), timings


def recall_at_10(snap: IndexSnapshot, queries: np.ndarray) -> tuple[float, float]:
    """Target-level recall@10 against exact search over the same vectors, and a tie-aware
    version: a returned target counts when its score reaches the exact 10th best (minus 0.005).
    Synthetic vectors cluster around ~3000 pool sentences, so many targets tie within noise and
    plain id recall understates quality."""
    store = snap.semantic._store
    vids, matrix = store.export_live()
    owners = snap.semantic._vid_owner.view()[vids]
    found = tied = 0.0
    for q in queries:
        sims = matrix @ q
        order = np.argsort(-sims)
        exact: list[int] = []
        tenth = -1.0
        for j in order:
            if owners[j] not in exact:
                exact.append(int(owners[j]))
                tenth = float(sims[j])
            if len(exact) == 10:
                break
        exact_ids = {snap.semantic._owner_target[o] for o in exact}
        hits = snap.semantic.search(q, 10)
        found += len(exact_ids & {h.target_id for h in hits}) / 10
        tied += sum(h.score >= tenth - 0.005 for h in hits[:10]) / 10
    return found / len(queries), tied / len(queries)


def run_size(n: int, pool, embedder, texts, exact_limit: int) -> dict:
    rss0 = rss_mb()
    snap, timings = build_snapshot(n, pool, exact_limit)
    rss1 = rss_mb()
    parts: dict[str, list[float]] = {"embed": [], "faiss": [], "lexical": [], "scope": []}
    parts["total"] = []
    for text in texts[:20]:  # warm-up
        snap.scope(text, embedder.embed([text]))
    for text in texts:
        t0 = time.perf_counter()
        q = embedder.embed([text])
        t1 = time.perf_counter()
        snap.semantic.search(q, 10)
        t2 = time.perf_counter()
        snap.lexical_hits(text)
        t3 = time.perf_counter()
        snap.scope(text, q, k=10)
        t4 = time.perf_counter()
        parts["embed"].append(t1 - t0)
        parts["faiss"].append(t2 - t1)
        parts["lexical"].append(t3 - t2)
        parts["scope"].append(t4 - t3)
        parts["total"].append((t1 - t0) + (t4 - t3))
    recall, tie_recall = recall_at_10(snap, embedder.embed(texts[:30]))
    result = {k: stats_ms(v) for k, v in parts.items()}
    result.update(timings, recall_at_10=recall, tie_recall_at_10=tie_recall, n=n)
    result["rss_mb"] = rss1 - rss0
    print(
        f"-- {n:>9,} targets ({2 * n:,} vectors, {timings['mode']}); recall@10 {recall:.3f}"
        f" (tie-aware {tie_recall:.3f})"
    )
    for k in ("embed", "faiss", "lexical", "scope", "total"):
        print(f"   {k:<8} {fmt(result[k])}")
    t = timings
    print(
        f"   build: targets {t['targets_s']:.1f} s, lexical {t['lexical_build_s']:.1f} s,"
        f" faiss add {t['faiss_add_s']:.1f} s, hnsw {t['hnsw_build_s']:.1f} s;"
        f" RSS +{rss1 - rss0:.0f} MiB ({(rss1 - rss0) * 2**20 / n:.0f} B/target)"
    )
    del snap
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--pool", type=int, default=3000, help="real sentences embedded once")
    parser.add_argument("--exact-limit", type=int, default=100_000)
    parser.add_argument("--backend", choices=("onnx", "torch"), default="onnx")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    header("indices_scope: scope lookup vs number of targets")
    print("   target vectors are SYNTHETIC (real sentence embeddings + noise); queries are real")
    embedder: Embedder = (
        OnnxEmbedder(cache_dir=CACHE) if args.backend == "onnx" else SentenceTransformerEmbedder()
    )
    embedder.load()
    t = time.perf_counter()
    pool = embedder.embed(pool_sentences(args.pool))
    print(f"   pool: {args.pool} real sentences embedded in {time.perf_counter() - t:.1f} s")
    texts = query_texts(args.queries, known=min(sizes))
    results = [run_size(n, pool, embedder, texts, args.exact_limit) for n in sizes]
    if len(results) > 1:
        xs = [math.log10(r["n"]) for r in results]
        ys = [r["total"]["p50"] for r in results]
        slope = float(np.polyfit(xs, ys, 1)[0])
        print(f"   growth: total p50 changes by {slope:+.2f} ms per 10x more targets")
    else:
        slope = float("nan")
    path = save("indices_scope", {"sizes": results, "slope_ms_per_decade": slope})
    print(f"   saved {path}")


if __name__ == "__main__":
    main()
