"""Embeddings of forget targets' retain examples, for the scope classifier's retain check.

A target's ``retain`` set says what must keep working next to it ("forget Canberra, but the
capital of Canada is still Ottawa"). A request whose nearness to the target is only semantic is
compared with both: when it is at least as close to a retain example as to the target's own
content, it is about what must be kept, and the target stays out of scope. Retain examples are
not in the FAISS index (they must never *put* a request in scope); they are embedded on first
use and kept per target id and retain set, in a bounded LRU.

Example:
    >>> vectors = RetainVectors(embedder)          # doctest: +SKIP
    >>> vectors.of(canberra).shape                 # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from lethe.indices import Embedder, ForgetTarget
from lethe.indices.chunking import sample_text


class RetainVectors:
    """Retain-example embeddings per target (thread-safe, at most ``max_targets`` kept)."""

    def __init__(self, embedder: Embedder, max_targets: int = 4096) -> None:
        self._embedder = embedder
        self._max = max_targets
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, target: ForgetTarget) -> np.ndarray | None:
        """The target's retain examples embedded (one row each), or None when it has none."""
        texts = tuple(sample_text(s) for s in target.retain)
        if not texts:
            return None
        key = (target.id, texts)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        vectors = np.atleast_2d(np.asarray(self._embedder.embed(list(texts)), dtype=np.float32))
        with self._lock:
            self._cache[key] = vectors
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return vectors

    def best(self, target: ForgetTarget, queries: np.ndarray) -> float | None:
        """The best cosine between any query vector and any of the target's retain examples."""
        vectors = self.of(target)
        if vectors is None:
            return None
        return float(np.max(np.atleast_2d(queries) @ vectors.T))
