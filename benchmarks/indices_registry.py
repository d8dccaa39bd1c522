"""Write path and start-up of the target store: add latency, bulk import, restart, memory.

Usage (from the repo root; the default run takes ~5-8 minutes on 2 cores, ~3 GB RAM)::

    python -m benchmarks.indices_registry                     # n=100k, bulk=2000, adds=100
    python -m benchmarks.indices_registry --n 20000 --bulk 500
    python -m benchmarks.indices_registry --batch-threads 0   # bulk on all cores (idle machine)

Steps, all with the real SQLite registry (WAL, synchronous=FULL) in a temporary directory:

1. bulk import of ``--bulk`` small targets (name, 2 aliases, 2 Q/A pairs = 5 embedded texts each)
   with the real embedder: targets/s (target >= 200/s), and the share spent embedding;
2. single ``add`` latency until searchable, real embedder, on that store (target p50 <= 50 ms);
3. the registry is filled to ``--n`` targets of the same shape with *synthetic* vectors (real
   sentence embeddings + noise; embedding 100k targets for real would take ~20 minutes);
4. restart: ``TargetStore.open`` on the full registry, timed until it serves (target <= 10 s at
   100k) and until the background HNSW build is done; RSS growth per target;
5. ``add``/``patch``/``delete`` latency and ``scope`` latency on the full store.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.indices_common import (
    TimedEmbedder,
    fmt,
    header,
    pool_sentences,
    query_texts,
    rss_mb,
    save,
    small_target,
    stats_ms,
    synthetic_vectors,
)
from lethe.indices.chunking import CHUNKER_ID, SOURCE_CODES
from lethe.indices.embedder import SentenceTransformerEmbedder
from lethe.indices.encoding import chunks_of
from lethe.indices.patch import TargetPatch
from lethe.indices.registry import Put, TargetVectors
from lethe.indices.sqlite_registry import SqliteRegistry
from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig


def bulk_import(store: TargetStore, emb: TimedEmbedder, n: int) -> dict:
    emb.seconds = 0.0
    t = time.perf_counter()
    result = store.add_many(small_target(i) for i in range(n))
    elapsed = time.perf_counter() - t
    assert len(result.added) == n, result.errors[:3]
    rate = n / elapsed
    print(f"-- bulk import: {n} targets in {elapsed:.1f} s = {rate:.0f} targets/s", end="")
    print(f" ({emb.seconds / elapsed:.0%} of it embedding; final version {result.version})")
    return {"targets": n, "seconds": elapsed, "rate": rate, "embed_share": emb.seconds / elapsed}


def write_latencies(store: TargetStore, adds: int, first: int, label: str) -> dict:
    add, patch, delete = [], [], []
    for i in range(first, first + adds):
        t = small_target(i, prefix="new")
        start = time.perf_counter()
        store.add(t)
        add.append(time.perf_counter() - start)
        assert store.snapshot.lexical_hits(t.name)  # searchable on return
    for i in range(first, first + adds // 2):
        start = time.perf_counter()
        store.patch(f"new{i}", TargetPatch(policy={"action": "refuse"}))
        patch.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.delete(f"new{i}")
        delete.append(time.perf_counter() - start)
    result = {"add": stats_ms(add), "patch": stats_ms(patch), "delete": stats_ms(delete)}
    for k, v in result.items():
        print(f"-- {k:<6} latency ({label}): {fmt(v)}")
    return result


def fill(data: Path, n: int, start: int, pool: np.ndarray) -> float:
    """Write targets ``start..n`` with synthetic vectors straight into the registry."""
    registry = SqliteRegistry.in_dir(data)
    registry.bind("all-MiniLM-L6-v2", pool.shape[1], CHUNKER_ID)
    t = time.perf_counter()
    for lo in range(start, n, 1000):
        targets = [small_target(i) for i in range(lo, min(n, lo + 1000))]
        sources = ["".join(SOURCE_CODES[c.source] for c in chunks_of(x)) for x in targets]
        vectors = synthetic_vectors(pool, sum(map(len, sources)), seed=lo)
        ops, row = [], 0
        for target, codes in zip(targets, sources, strict=True):
            ops.append(Put(target, TargetVectors(codes, vectors[row : row + len(codes)])))
            row += len(codes)
        registry.apply(ops)
    registry.close()
    return time.perf_counter() - t


def restart(data: Path, emb: TimedEmbedder, n: int) -> tuple[TargetStore, dict]:
    rss0 = rss_mb()
    t = time.perf_counter()
    store = TargetStore.open(data, emb, config=StoreConfig(background=True))
    ready = time.perf_counter() - t
    rss_ready = rss_mb()
    while store.snapshot.semantic.needs_rebuild() or store.snapshot.semantic.stats().rebuilding:
        time.sleep(0.2)  # the background upkeep builds HNSW above exact_limit vectors
    hnsw = time.perf_counter() - t
    rss1 = rss_mb()
    per_target = (rss1 - rss0) * 2**20 / n
    stats = store.snapshot.semantic.stats()
    print(f"-- restart at {n:,} targets ({stats.vectors:,} vectors): serving after {ready:.1f} s")
    print(f"   (exact search), {stats.mode} index ready after {hnsw:.1f} s;")
    print(f"   RSS +{rss_ready - rss0:.0f} MiB when serving, +{rss1 - rss0:.0f} MiB with the final")
    print(f"   index = {per_target:.0f} B/target")
    return store, {"ready_s": ready, "hnsw_s": hnsw, "rss_mb": rss1 - rss0, "bytes": per_target}


def scope_latency(store: TargetStore, n: int) -> dict:
    texts = query_texts(150, known=n)
    for text in texts[:20]:
        store.scope(text)
    times = []
    for text in texts:
        t = time.perf_counter()
        store.scope(text)
        times.append(time.perf_counter() - t)
    result = stats_ms(times)
    print(f"-- scope at {n:,} targets (embed + FAISS + lexical): {fmt(result)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--bulk", type=int, default=2000)
    parser.add_argument("--adds", type=int, default=100)
    parser.add_argument(
        "--batch-threads", type=int, default=1, help="torch threads for bulk batches (0: all)"
    )
    args = parser.parse_args()
    header("indices_registry: add latency, bulk import, restart, memory")
    real = SentenceTransformerEmbedder(batch_threads=args.batch_threads or None)
    real.load()
    emb = TimedEmbedder(real)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        store = TargetStore.open(data, emb, config=StoreConfig(background=True))
        out["bulk"] = bulk_import(store, emb, args.bulk)
        out["small_store"] = write_latencies(store, args.adds, 0, f"{args.bulk:,} targets")
        store.close()
        pool = real.embed(pool_sentences(3000))
        seconds = fill(data, args.n, args.bulk, pool)
        print(
            f"-- filled the registry to {args.n:,} targets in {seconds:.0f} s (synthetic vectors)"
        )
        store, out["restart"] = restart(data, emb, args.n)
        out["full_store"] = write_latencies(store, args.adds, 10_000, f"{args.n:,} targets")
        out["scope"] = scope_latency(store, args.n)
        store.close()
    print(f"   saved {save('indices_registry', out)}")


if __name__ == "__main__":
    main()
