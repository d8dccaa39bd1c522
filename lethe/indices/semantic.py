"""The semantic index: every target's chunk vectors in FAISS, searched for the top-k *targets*.

One :class:`SemanticIndex` is shared by every snapshot of the store (copying a million vectors per
change would be far too slow). It is guarded by a readers-writer lock: searches run in parallel,
and a change holds the lock only while FAISS appends vectors (~1 ms) or removes them (a flat index
compacts its arrays: ~2-15 ms at 10k-100k vectors; HNSW only marks tombstones). Snapshots decide
visibility: a search takes an ``accept(target_id)`` callback, so a target added after a snapshot
stays invisible to it. A target's vectors are replaced in one locked step (a reader sees its old
or its new vectors, never none); an older snapshot sees the newest vectors of a target it knows,
and a deleted target's vectors disappear for every snapshot at once.

Sizing: the index is exact (``flat``) up to ``exact_limit`` vectors and HNSW above it (see
:mod:`lethe.indices.faiss_store`). :meth:`needs_rebuild` says when to switch, or when HNSW has
collected too many tombstones; :meth:`rebuild` builds the new index *outside* the lock from a copy
of the live vectors, records the changes made meanwhile in a journal, replays them under the lock
and swaps. Readers never wait for a build.

Search over-fetches chunks (``overfetch`` × k, at least 32), keeps each target's best chunk, and
fetches more when too few accepted targets came back.

Example:
    >>> import numpy as np
    >>> idx = SemanticIndex(2)
    >>> idx.put("t1", np.array([[1, 0], [0.6, 0.8]], dtype=np.float32), "nc")
    >>> [(h.target_id, round(h.score, 2), h.chunk_no) for h in idx.search(np.array([0, 1.0]), 5)]
    [('t1', 0.8, 1)]
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import faiss
import numpy as np

from lethe.indices.chunking import SOURCES_BY_CODE, ChunkSource
from lethe.indices.faiss_store import FaissStore, IndexMode, Int64Column
from lethe.indices.rwlock import RWLock

logger = logging.getLogger(__name__)

_CODES = "nac"
_CODE_INDEX = np.zeros(256, dtype=np.int64)
_CODE_INDEX[[ord(c) for c in _CODES]] = np.arange(len(_CODES))
MAX_FETCH = 4096
_ALL_THREADS = max(1, faiss.omp_get_max_threads())  # read before any thread lowers its own


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """A target's best chunk for a query: cosine ``score`` in [-1, 1], chunk number and source."""

    target_id: str
    score: float
    chunk_no: int
    source: ChunkSource


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What the index holds now."""

    mode: IndexMode
    targets: int
    vectors: int
    tombstones: int
    rebuilding: bool


class SemanticIndex:
    """Chunk vectors of all targets; thread-safe (see the module docstring)."""

    def __init__(
        self,
        dim: int,
        *,
        exact_limit: int = 100_000,
        hnsw_m: int = 32,
        ef_construction: int = 40,
        ef_search: int = 64,
        tombstone_ratio: float = 0.15,
        overfetch: int = 4,
    ) -> None:
        self.dim = dim
        self.exact_limit = exact_limit
        self.tombstone_ratio = tombstone_ratio
        self.overfetch = overfetch
        self._faiss_args = {"hnsw_m": hnsw_m, "ef_construction": ef_construction}
        self._ef_search = ef_search
        self._lock = RWLock()
        self._rebuild_mutex = threading.Lock()
        self._store = FaissStore(dim, "flat", ef_search=ef_search, **self._faiss_args)
        self._journal: list[tuple[str, np.ndarray, np.ndarray | None]] | None = None
        # Per vector id (dense, allocated in order): owner key, chunk number, source code.
        self._vid_owner = Int64Column()
        self._vid_chunk = Int64Column()
        self._vid_source = Int64Column()
        # Per owner key (one per put): target id and its first vid; and target -> current key.
        self._owner_target: list[str | None] = []
        self._owner_first = Int64Column()
        self._owner_count = Int64Column()
        self._target_owner: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._target_owner)

    def __contains__(self, target_id: object) -> bool:
        return target_id in self._target_owner

    def stats(self) -> IndexStats:
        """Mode, counts, and whether a rebuild is running."""
        with self._lock.read():
            s = self._store
            return IndexStats(
                s.mode, len(self._target_owner), s.live, len(s.dead), self._journal is not None
            )

    def put(self, target_id: str, vectors: np.ndarray, sources: str) -> None:
        """Set ``target_id``'s vectors (replacing earlier ones); ``sources`` has one code a row."""
        self.put_many([(target_id, vectors, sources)])

    def put_many(self, items: Iterable[tuple[str, np.ndarray, str]]) -> None:
        """:meth:`put` for many targets under one lock acquisition and one FAISS call."""
        items = list({t: (t, v, s) for t, v, s in items}.values())  # a repeated id: last wins
        if not items:
            return
        with self._lock.write():
            self._remove_locked([t for t, _, _ in items])
            vids, matrix = self._allocate_locked(items)
            faiss.omp_set_num_threads(_threads_for(len(vids)))
            self._store.add(vids, matrix)
            if self._journal is not None:
                self._journal.append(("add", vids, matrix))

    def remove(self, target_ids: Iterable[str]) -> None:
        """Remove every vector of ``target_ids`` (unknown ids are ignored)."""
        with self._lock.write():
            self._remove_locked(list(target_ids))

    def _allocate_locked(
        self, items: list[tuple[str, np.ndarray, str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Give each item an owner key and consecutive vector ids (vectorised: restart speed)."""
        for target_id, vectors, sources in items:
            bad_shape = len(vectors) != len(sources) or vectors.shape[1:] != (self.dim,)
            if bad_shape or sources.strip(_CODES):
                raise ValueError(f"vectors of {target_id} do not match their sources/dim")
        first_vid, first_owner = len(self._vid_owner), len(self._owner_target)
        counts = np.fromiter((len(s) for _, _, s in items), dtype=np.int64, count=len(items))
        starts = first_vid + np.concatenate(([0], np.cumsum(counts)[:-1]))
        for offset, (target_id, _, _) in enumerate(items):
            self._target_owner[target_id] = first_owner + offset
        self._owner_target.extend(t for t, _, _ in items)
        self._owner_first.extend(starts)
        self._owner_count.extend(counts)
        total = int(counts.sum())
        self._vid_owner.extend(np.repeat(np.arange(first_owner, first_owner + len(items)), counts))
        self._vid_chunk.extend(np.arange(total) - np.repeat(starts - first_vid, counts))
        codes = np.frombuffer("".join(s for _, _, s in items).encode("ascii"), dtype=np.uint8)
        self._vid_source.extend(_CODE_INDEX[codes])
        vids = np.arange(first_vid, first_vid + total, dtype=np.int64)
        matrix = np.concatenate([v for _, v, _ in items]).astype(np.float32, copy=False)
        return vids, matrix

    def _owner_vids(self, owner: int) -> np.ndarray:
        first = self._owner_first.view()[owner]
        return np.arange(first, first + self._owner_count.view()[owner], dtype=np.int64)

    def _remove_locked(self, target_ids: list[str]) -> None:
        owners = [self._target_owner.pop(t) for t in target_ids if t in self._target_owner]
        if not owners:
            return
        for owner in owners:
            self._owner_target[owner] = None
        vids = np.concatenate([self._owner_vids(o) for o in owners])
        self._store.remove(vids)
        if self._journal is not None:
            self._journal.append(("remove", vids, None))

    def search(
        self, queries: np.ndarray, k: int, accept: Callable[[str], bool] | None = None
    ) -> list[SemanticHit]:
        """The ``k`` best accepted targets for ``queries`` (one vector or several: max over all)."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if k <= 0 or not len(q):
            return []
        with self._lock.read():
            faiss.omp_set_num_threads(1)  # one query: threads only add wake-up latency
            stored = self._store.stored
            if not stored:
                return []
            fetch = min(max(k * self.overfetch, 32), stored)
            while True:
                best = self._best_per_target(*self._store.search(q, fetch), accept)
                if len(best) >= k or fetch >= min(stored, MAX_FETCH):
                    break
                fetch = min(fetch * 4, stored, MAX_FETCH)
        return sorted(best.values(), key=lambda h: -h.score)[:k]

    def _best_per_target(
        self, scores: np.ndarray, vids: np.ndarray, accept: Callable[[str], bool] | None
    ) -> dict[str, SemanticHit]:
        best: dict[str, SemanticHit] = {}
        verdicts: dict[str, bool] = {}
        owners, chunks, sources = (
            self._vid_owner.view(),
            self._vid_chunk.view(),
            self._vid_source.view(),
        )
        for score, vid in zip(scores.ravel().tolist(), vids.ravel().tolist(), strict=True):
            if vid < 0:
                continue
            target = self._owner_target[owners[vid]]
            if target is None or (target in best and best[target].score >= score):
                continue
            if accept is not None:
                if target not in verdicts:
                    verdicts[target] = accept(target)
                if not verdicts[target]:
                    continue
            source = SOURCES_BY_CODE[_CODES[sources[vid]]]
            best[target] = SemanticHit(target, float(score), int(chunks[vid]), source)
        return best

    def scores_for(self, queries: np.ndarray, target_ids: Iterable[str]) -> dict[str, SemanticHit]:
        """Each named target's best chunk for ``queries``, computed exactly from its vectors."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        out: dict[str, SemanticHit] = {}
        with self._lock.read():
            for target in target_ids:
                owner = self._target_owner.get(target)
                if owner is None or target in out:
                    continue
                vids = self._owner_vids(owner)
                matrix = self._store.vectors(vids)
                if not len(matrix):
                    continue
                sims = (matrix @ q.T).max(axis=1)
                i = int(np.argmax(sims))
                vid = vids[i]
                code = _CODES[self._vid_source.view()[vid]]
                chunk = int(self._vid_chunk.view()[vid])
                out[target] = SemanticHit(target, float(sims[i]), chunk, SOURCES_BY_CODE[code])
        return out

    def needs_rebuild(self) -> IndexMode | None:
        """The mode to rebuild into, or ``None`` when the current index is fine."""
        s = self._store
        if s.mode == "flat" and s.live > self.exact_limit:
            return "hnsw"
        if s.mode == "hnsw" and s.live < self.exact_limit // 2:
            return "flat"
        if s.mode == "hnsw" and len(s.dead) > self.tombstone_ratio * max(s.stored, 1):
            return "hnsw"
        return None

    def rebuild(self, mode: IndexMode | None = None) -> bool:
        """Rebuild into ``mode`` (default: :meth:`needs_rebuild`'s choice); False if none ran."""
        if not self._rebuild_mutex.acquire(blocking=False):
            return False
        try:
            with self._lock.read():
                mode = mode or self.needs_rebuild()
                if mode is None:
                    return False
                vids, matrix = self._store.export_live()
                self._journal = []  # writers are excluded while we hold the read lock
            fresh: FaissStore | None = None
            try:
                fresh = self._build(mode, vids, matrix)  # the slow part, outside the lock
            finally:
                with self._lock.write():
                    journal, self._journal = self._journal or [], None
                    if fresh is not None:
                        self._replay(fresh, journal)
                        self._store = fresh
            logger.info("event=semantic_rebuilt mode=%s vectors=%d", mode, fresh.live)
            return True
        finally:
            self._rebuild_mutex.release()

    def _build(self, mode: IndexMode, vids: np.ndarray, matrix: np.ndarray) -> FaissStore:
        fresh = FaissStore(self.dim, mode, ef_search=self._ef_search, **self._faiss_args)
        faiss.omp_set_num_threads(_threads_for(len(vids)))
        fresh.add(vids, matrix)
        return fresh

    @staticmethod
    def _replay(
        fresh: FaissStore, journal: list[tuple[str, np.ndarray, np.ndarray | None]]
    ) -> None:
        for op, vids, matrix in journal:
            faiss.omp_set_num_threads(_threads_for(len(vids)))
            if op == "add":
                fresh.add(vids, matrix)
            else:
                fresh.remove(vids)


def _threads_for(n_vectors: int) -> int:
    """OpenMP threads to add ``n_vectors``: one for small changes (no wake-up cost), all for big."""
    return _ALL_THREADS if n_vectors >= 1000 else 1
