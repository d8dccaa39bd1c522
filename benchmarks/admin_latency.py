"""The admin API's write path over HTTP: single add until searchable, and bulk import rate.

A live uvicorn server on loopback serves the gateway (fake engine: no model decoding competes)
with a real forget store (SQLite WAL, synchronous=FULL) in a temporary directory and the real
embedder (all-MiniLM-L6-v2, preloaded). The embedder is wrapped to add up its own time, so each
number comes with the embedder's share of it: what is left is HTTP, JSON, validation, the
registry transaction and the index update.

    python -m benchmarks.admin_latency                    # 50 adds, 1000 small targets in bulk
    python -m benchmarks.admin_latency --bulk 2000 --shape name
    python -m benchmarks.admin_latency --embedder hashing  # the API without the model's cost
    python -m benchmarks.admin_latency --batch-threads 0   # bulk embedding on all cores

Targets (``--shape``): ``small`` = name, 2 aliases, 2 Q/A pairs (5 embedded texts, as in
``benchmarks.indices_registry``), ``name`` = a name only (1 text). Goals: add p50 <= 50 ms;
bulk >= 200 targets/s on 2 cores (the embedder alone may not allow it: see its share).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import load_average, percentile, save
from benchmarks.indices_common import TimedEmbedder, name_of, small_target
from lethe.gateway.app import create_app
from lethe.gateway.settings import Settings
from lethe.gateway.store import open_store
from lethe.indices import Embedder, ForgetTarget, SentenceTransformerEmbedder, TargetStore
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer


def make_target(shape: str, i: int, prefix: str) -> ForgetTarget:
    """Target ``i`` of the given shape, with an id made of ``prefix`` and ``i``."""
    if shape == "small":
        return small_target(i, prefix)
    return ForgetTarget(id=f"{prefix}{i}", kind="entity", name=name_of(i))


def wire(target: ForgetTarget) -> str:
    """The target as the admin API takes it (one JSON line)."""
    return json.dumps(target.model_dump(mode="json", exclude_none=True))


def ms_stats(values: list[float]) -> dict[str, float]:
    """p50 / p95 / mean of seconds, in milliseconds."""
    ms = [v * 1000 for v in values]
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "mean": sum(ms) / len(ms)}


def single_adds(client: httpx.Client, emb: TimedEmbedder, n: int, shape: str) -> dict[str, Any]:
    """``n`` sequential adds; each answer means searchable, checked with a scope lookup."""
    for i in range(3):  # warm-up: first requests pay for lazy imports and connections
        client.post("/admin/targets", content=wire(make_target(shape, 900_000 + i, "w")))
    latencies, embedding = [], []
    for i in range(n):
        target = make_target(shape, 500_000 + i, "a")
        emb.seconds = 0.0
        started = time.perf_counter()
        response = client.post("/admin/targets", content=wire(target))
        latencies.append(time.perf_counter() - started)
        embedding.append(emb.seconds)
        assert response.status_code == 201, response.text
        hits = client.get("/admin/scope", params={"text": target.name}).json()["hits"]
        assert target.id in [h["target_id"] for h in hits], "not searchable after the answer"
    add, embed = ms_stats(latencies), ms_stats(embedding)
    print(
        f"-- single add until searchable ({n}, {shape}): p50 {add['p50']:.1f} ms, "
        f"p95 {add['p95']:.1f} ms (embedder p50 {embed['p50']:.1f} ms; goal p50 <= 50 ms)"
    )
    return {"adds": n, "latency_ms": add, "embed_ms": embed}


def jsonl(shape: str, n: int) -> Iterator[bytes]:
    """``n`` targets as a JSONL body, 100 lines per chunk."""
    for start in range(0, n, 100):
        lines = [wire(make_target(shape, i, "b")) for i in range(start, min(n, start + 100))]
        yield ("\n".join(lines) + "\n").encode()


def bulk_import(client: httpx.Client, emb: TimedEmbedder, n: int, shape: str) -> dict[str, Any]:
    """One streamed import of ``n`` targets: targets/s and the embedder's share of the time."""
    emb.seconds = 0.0
    started = time.perf_counter()
    response = client.post(
        "/admin/targets:import", content=jsonl(shape, n), timeout=httpx.Timeout(30, read=None)
    )
    elapsed = time.perf_counter() - started
    answer = response.json()
    assert answer["imported"] == n, answer["errors"][:3]
    rate, share = n / elapsed, emb.seconds / elapsed
    print(
        f"-- bulk import ({n}, {shape}): {elapsed:.1f} s = {rate:.0f} targets/s; embedder "
        f"{share:.0%} of it (alone: {n / max(emb.seconds, 1e-9):.0f} targets/s); "
        f"without the embedder: {n / max(elapsed - emb.seconds, 1e-9):.0f} targets/s "
        "(goal >= 200 targets/s)"
    )
    return {
        "targets": n,
        "seconds": elapsed,
        "rate": rate,
        "embed_share": share,
        "embed_only_rate": n / max(emb.seconds, 1e-9),
        "rate_without_embedder": n / max(elapsed - emb.seconds, 1e-9),
        "version": answer["version"],
    }


def build_embedder(kind: str, batch_threads: int) -> Embedder:
    """The real embedder (loaded now) or the test suite's hashing embedder."""
    if kind == "hashing":
        from tests.indices.fakes import HashingEmbedder

        return HashingEmbedder(dim=384)
    embedder = SentenceTransformerEmbedder(batch_threads=batch_threads or None)
    embedder.load()
    return embedder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adds", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--shape", choices=("small", "name"), default="small")
    parser.add_argument("--embedder", choices=("real", "hashing"), default="real")
    parser.add_argument(
        "--batch-threads", type=int, default=1, help="torch threads for bulk batches (0: all)"
    )
    args = parser.parse_args(argv)
    print(f"admin_latency: load average {load_average():.2f}")
    emb = TimedEmbedder(build_embedder(args.embedder, args.batch_threads))
    with tempfile.TemporaryDirectory(prefix="lethe-admin-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp), embedder_preload=False)
        store: TargetStore = open_store(settings, emb)
        try:
            app = create_app(settings, engine=FakeEngine(model_id="lethe-fake"), store=store)
            with (
                LiveServer(app) as live,
                httpx.Client(base_url=live.url, timeout=60) as client,
            ):
                result = {
                    "embedder": args.embedder,
                    "shape": args.shape,
                    "batch_threads": args.batch_threads,
                    "load_average": load_average(),
                    "add": single_adds(client, emb, args.adds, args.shape),
                    "bulk": bulk_import(client, emb, args.bulk, args.shape),
                }
        finally:
            store.close()
    print(f"saved {save('admin_latency', result)}")


if __name__ == "__main__":
    main()
