from __future__ import annotations

import numpy as np
import pytest

from lethe.indices.faiss_store import FaissStore, Int64Column


def unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_int64_column_grows_and_deletes():
    col = Int64Column()
    for i in range(100):
        col.extend(np.array([i]))
    col.delete(np.array([0, 50]))
    assert len(col) == 98 and col.view()[0] == 1 and 50 not in col.view()


@pytest.mark.parametrize("mode", ["flat", "hnsw"])
def test_add_search_remove(mode):
    s = FaissStore(8, mode)
    x = unit(50)
    s.add(np.arange(100, 150), x)
    scores, vids = s.search(x[:3], 1)
    assert vids[:, 0].tolist() == [100, 101, 102]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)
    s.remove(np.array([100, 101, 999]))
    assert s.live == 48
    _, vids = s.search(x[:2], 5)
    assert 100 not in vids and 101 not in vids
    assert (s.stored, len(s.dead)) == ((48, 0) if mode == "flat" else (50, 2))


@pytest.mark.parametrize("mode", ["flat", "hnsw"])
def test_vectors_and_export_skip_removed(mode):
    s = FaissStore(8, mode)
    x = unit(10)
    s.add(np.arange(10), x)
    s.remove(np.array([3]))
    assert np.allclose(s.vectors(np.array([2, 3, 4])), x[[2, 4]])
    vids, matrix = s.export_live()
    assert 3 not in vids.tolist() and np.allclose(matrix, np.delete(x, 3, axis=0))


def test_search_on_empty_store():
    scores, vids = FaissStore(8, "flat").search(unit(1), 4)
    assert (vids == -1).all() and scores.shape == (1, 4)


def test_fewer_vectors_than_k():
    s = FaissStore(8, "flat")
    s.add(np.array([1, 2]), unit(2))
    _, vids = s.search(unit(1, seed=3), 4)
    assert sorted(vids[0].tolist()) == [-1, -1, 1, 2]
