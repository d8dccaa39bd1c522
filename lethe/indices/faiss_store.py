"""One FAISS index plus the map from its positions to Lethe's vector ids; not thread-safe.

Two modes:

- ``flat``: ``IndexFlatIP``, exact inner product. Removal is real (``remove_ids`` compacts the
  arrays: O(n), ~15 ms at 100k vectors on these machines).
- ``hnsw``: ``IndexHNSWFlat``, approximate (~0.3 ms a query at 100k vectors, recall ~0.97 at
  ``efSearch=64`` on embedding-like data). HNSW cannot remove vectors, so removed positions become
  tombstones, excluded from every search with
  ``SearchParametersHNSW(sel=IDSelectorNot(IDSelectorBatch(dead)))``; the owner rebuilds the index
  once too many are dead.

Positions are FAISS's own row numbers; vector ids (``vids``) are Lethe's, allocated in increasing
order, so ``pos_vid`` stays sorted and a vid's position is found by binary search. Lethe does not
use ``IndexIDMap``: ``IndexIDMap2.remove_ids`` rebuilds its reverse map (O(n)) on every call, and
HNSW inside an id map cannot remove either.

Example:
    >>> import numpy as np
    >>> s = FaissStore(2, "flat")
    >>> s.add(np.array([7, 9]), np.array([[1, 0], [0, 1]], dtype=np.float32))
    >>> s.search(np.array([[0.6, 0.8]], dtype=np.float32), 2)[1].tolist()
    [[9, 7]]
"""

from __future__ import annotations

from typing import Literal

import faiss
import numpy as np

IndexMode = Literal["flat", "hnsw"]


class Int64Column:
    """A growable int64 array (amortised O(1) append), viewed without copying."""

    __slots__ = ("_data", "_n")

    def __init__(self, values: np.ndarray | None = None) -> None:
        values = np.zeros(0, dtype=np.int64) if values is None else values.astype(np.int64)
        self._data = np.empty(max(16, len(values)), dtype=np.int64)
        self._data[: len(values)] = values
        self._n = len(values)

    def __len__(self) -> int:
        return self._n

    def view(self) -> np.ndarray:
        """The live part (a view: do not keep it across appends)."""
        return self._data[: self._n]

    def extend(self, values: np.ndarray) -> None:
        """Append ``values``."""
        need = self._n + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)), dtype=np.int64)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = values
        self._n = need

    def delete(self, positions: np.ndarray) -> None:
        """Remove the entries at ``positions`` (keeps order)."""
        kept = np.delete(self._data[: self._n], positions)
        self._data[: len(kept)] = kept
        self._n = len(kept)


class FaissStore:
    """A FAISS index of unit vectors keyed by increasing vector ids (see the module docstring)."""

    def __init__(
        self,
        dim: int,
        mode: IndexMode,
        *,
        hnsw_m: int = 32,
        ef_construction: int = 40,
        ef_search: int = 64,
    ) -> None:
        self.dim = dim
        self.mode: IndexMode = mode
        self.ef_search = ef_search
        if mode == "flat":
            self.index: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            hnsw = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = ef_construction
            hnsw.hnsw.efSearch = ef_search
            self.index = hnsw
        self.pos_vid = Int64Column()
        self.dead: set[int] = set()
        self._params: faiss.SearchParameters | None = None
        self._keep: tuple[object, ...] = ()  # SWIG does not own the selectors: keep them alive

    @property
    def stored(self) -> int:
        """Vectors in the FAISS index, tombstones included."""
        return int(self.index.ntotal)

    @property
    def live(self) -> int:
        """Vectors not removed."""
        return self.stored - len(self.dead)

    def add(self, vids: np.ndarray, vectors: np.ndarray) -> None:
        """Append ``vectors`` under ``vids`` (each larger than every vid already stored)."""
        if len(vids):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            self.pos_vid.extend(vids)

    def positions(self, vids: np.ndarray) -> np.ndarray:
        """Positions of the stored ``vids`` (vids not stored, or dead, are left out)."""
        table = self.pos_vid.view()
        pos = np.searchsorted(table, vids)
        ok = pos < len(table)
        ok[ok] = table[pos[ok]] == vids[ok]
        pos = pos[ok]
        if self.dead:
            pos = pos[[int(p) not in self.dead for p in pos]]
        return pos

    def remove(self, vids: np.ndarray) -> None:
        """Remove ``vids``: really (flat) or as tombstones (hnsw)."""
        pos = self.positions(vids)
        if not len(pos):
            return
        if self.mode == "flat":
            self.index.remove_ids(faiss.IDSelectorBatch(pos.astype(np.int64)))
            self.pos_vid.delete(pos)
            return
        self.dead.update(int(p) for p in pos)
        batch = faiss.IDSelectorBatch(np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
        selector = faiss.IDSelectorNot(batch)
        self._params = faiss.SearchParametersHNSW(sel=selector, efSearch=self.ef_search)
        self._keep = (batch, selector)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores and vids (``-1`` where fewer than ``k`` results), each ``(len(queries), k)``."""
        if not self.stored:
            empty = np.full((len(queries), k), -1, dtype=np.int64)
            return np.zeros((len(queries), k), dtype=np.float32), empty
        scores, pos = self.index.search(queries, k, params=self._params)
        vids = np.where(pos >= 0, self.pos_vid.view()[np.maximum(pos, 0)], -1)
        return scores, vids

    def _matrix(self) -> np.ndarray:
        flat = self.index if self.mode == "flat" else faiss.downcast_index(self.index.storage)
        n = self.stored
        if not n:
            return np.zeros((0, self.dim), dtype=np.float32)
        return faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)

    def vectors(self, vids: np.ndarray) -> np.ndarray:
        """Copies of the stored vectors of the live ``vids`` (in vid order)."""
        return self._matrix()[self.positions(vids)].copy()

    def export_live(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of ``(vids, vectors)`` of every live vector, for a rebuild."""
        vids = self.pos_vid.view().copy()
        matrix = self._matrix()
        if not self.dead:
            return vids, matrix.copy()
        alive = np.ones(len(vids), dtype=bool)
        alive[np.fromiter(self.dead, dtype=np.int64, count=len(self.dead))] = False
        return vids[alive], matrix[alive]
