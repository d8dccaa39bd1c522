"""Test doubles for the indices tests: a deterministic embedder that needs no model.

``HashingEmbedder`` hashes words into a signed bag-of-words vector: texts that share words have a
higher cosine than texts that do not, which is all the shape- and plumbing-level tests need. It
counts calls and texts so tests can assert that something was (not) re-embedded.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence

import numpy as np


class HashingEmbedder:
    """Deterministic signed feature hashing of lower-cased words; unit-length float32 rows."""

    def __init__(self, dim: int = 64, name: str = "hashing-test") -> None:
        self.dim = dim
        self.name = name
        self.calls = 0
        self.texts = 0
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()) or ["<empty>"]:
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0 if (h >> 40) & 1 else -1.0
            norm = float(np.linalg.norm(out[i]))
            out[i] = out[i] / norm if norm else 1.0 / np.sqrt(self.dim)
        return out
