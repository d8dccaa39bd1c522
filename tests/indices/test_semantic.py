from __future__ import annotations

import threading

import numpy as np
import pytest

from lethe.indices.semantic import SemanticIndex


def unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_reduces_chunks_to_targets_with_max_score():
    idx = SemanticIndex(16)
    x = unit(6)
    idx.put("a", x[:3], "nac")
    idx.put("b", x[3:], "ncc")
    hits = idx.search(x[2], k=5)
    assert hits[0].target_id == "a"
    assert (hits[0].chunk_no, hits[0].source) == (2, "content")
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert {h.target_id for h in hits} == {"a", "b"}


def test_put_replaces_and_remove_deletes():
    idx = SemanticIndex(16)
    x = unit(4)
    idx.put("a", x[:2], "nc")
    idx.put("a", x[2:3], "n")
    assert idx.stats().vectors == 1 and len(idx) == 1
    assert idx.search(x[0], 3)[0].chunk_no == 0
    idx.remove(["a", "unknown"])
    assert idx.search(x[0], 3) == [] and "a" not in idx


def test_accept_filters_and_over_fetch_expands():
    idx = SemanticIndex(16, overfetch=1)
    x = unit(300)
    q = x[0]
    # 200 rejected targets near the query crowd the first fetch
    near = np.stack([q + 0.01 * v for v in unit(200, seed=1)])
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    idx.put_many((f"other{i}", near[i : i + 1], "n") for i in range(200))
    idx.put_many((f"mine{i}", x[i + 1 : i + 2], "n") for i in range(50))
    hits = idx.search(q, k=3, accept=lambda t: t.startswith("mine"))
    assert len(hits) == 3 and all(h.target_id.startswith("mine") for h in hits)


def test_several_queries_take_the_max():
    idx = SemanticIndex(16)
    x = unit(3)
    idx.put_many([("a", x[0:1], "n"), ("b", x[1:2], "n")])
    hits = idx.search(np.stack([x[0], x[1]]), k=2)
    assert {h.target_id for h in hits} == {"a", "b"}
    assert all(h.score == pytest.approx(1.0, abs=1e-5) for h in hits)


def test_scores_for_named_targets():
    idx = SemanticIndex(16)
    x = unit(3)
    idx.put("a", x, "nac")
    got = idx.scores_for(x[1:2], ["a", "missing"])
    assert list(got) == ["a"] and got["a"].chunk_no == 1 and got["a"].source == "alias"


@pytest.mark.parametrize(("rows", "sources", "dim"), [(2, "n", 16), (1, "x", 16), (1, "n", 8)])
def test_mismatched_vectors_are_refused(rows, sources, dim):
    idx = SemanticIndex(16)
    with pytest.raises(ValueError):
        idx.put("a", unit(rows, dim=dim), sources)
    assert len(idx) == 0 and idx.stats().vectors == 0


def test_repeated_id_in_one_batch_keeps_the_last():
    idx = SemanticIndex(16)
    x = unit(3)
    idx.put_many([("a", x[:2], "nc"), ("b", x[2:], "n"), ("a", x[2:], "n")])
    assert idx.stats().vectors == 2 and idx.search(x[0], 5)[0].score < 0.99


def test_switches_to_hnsw_and_back_and_compacts():
    idx = SemanticIndex(16, exact_limit=100, tombstone_ratio=0.1)
    x = unit(300)
    idx.put_many((f"t{i}", x[i : i + 1], "n") for i in range(150))
    assert idx.needs_rebuild() == "hnsw" and idx.rebuild()
    assert idx.stats().mode == "hnsw"
    idx.remove([f"t{i}" for i in range(20)])
    assert idx.stats().tombstones == 20 and idx.needs_rebuild() == "hnsw"
    assert idx.search(x[0], 1)[0].target_id != "t0"
    assert idx.rebuild()
    assert idx.stats().tombstones == 0 and idx.stats().vectors == 130
    idx.remove([f"t{i}" for i in range(20, 110)])
    assert idx.needs_rebuild() == "flat" and idx.rebuild()
    assert idx.stats().mode == "flat" and idx.search(x[120], 1)[0].target_id == "t120"
    assert not idx.rebuild()  # nothing due


def test_changes_during_a_rebuild_are_replayed():
    idx = SemanticIndex(16, exact_limit=50)
    x = unit(400)
    idx.put_many((f"t{i}", x[i : i + 1], "n") for i in range(200))
    started = threading.Event()
    original_build = idx._build

    def slow_build(mode, vids, matrix):
        started.set()
        writer.join()  # every write below lands while the new index is being built
        return original_build(mode, vids, matrix)

    def write():
        started.wait(10)
        idx.put_many((f"t{i}", x[i : i + 1], "n") for i in range(200, 300))
        idx.remove([f"t{i}" for i in range(50)])
        idx.put("t60", x[399:400], "n")

    idx._build = slow_build  # type: ignore[method-assign]
    writer = threading.Thread(target=write)
    writer.start()
    assert idx.rebuild("hnsw")
    stats = idx.stats()
    assert (stats.mode, stats.targets, stats.vectors, stats.rebuilding) == ("hnsw", 250, 250, False)
    assert idx.search(x[250], 1)[0].target_id == "t250"
    assert idx.search(x[399], 1)[0].target_id == "t60"
    assert all(h.target_id not in {f"t{i}" for i in range(50)} for h in idx.search(x[10], 20))


def test_concurrent_searches_and_writes():
    idx = SemanticIndex(16)
    x = unit(500)
    errors: list[Exception] = []

    def reader():
        try:
            for i in range(200):
                idx.search(x[i % 500], 5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(500):
        idx.put(f"t{i % 100}", x[i : i + 1], "n")
    for t in threads:
        t.join()
    assert not errors and len(idx) == 100 and idx.stats().vectors == 100
