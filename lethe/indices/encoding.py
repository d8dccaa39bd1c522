"""Targets to stored vectors: chunk, embed in one batch, and reuse what a patch left unchanged.

Embedding is the slow part of every write (~3-7 ms a short text on 2 cores), so the chunks of a
batch of targets go to the embedder together (in slices, so queries can interleave), and a patch
re-embeds only chunk texts it did not have before (a policy or ``expires_at`` change embeds
nothing).

Example:
    >>> import numpy as np
    >>> class Ones:
    ...     name, dim = "ones", 2
    ...     def embed(self, texts):
    ...         return np.ones((len(texts), 2), np.float32) / np.sqrt(2)
    >>> t = ForgetTarget(kind="entity", name="Ada Quill", content=["Born in Ulm."])
    >>> [v.sources for v in encode_targets(Ones(), [t])]
    ['nc']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lethe.indices.chunking import SOURCE_CODES, Chunk, target_chunks
from lethe.indices.embedder import Embedder
from lethe.indices.registry import StoredTarget, TargetVectors
from lethe.indices.targets import ForgetTarget

EMBED_SLICE = 32


def chunks_of(target: ForgetTarget) -> tuple[Chunk, ...]:
    """The chunks :mod:`lethe.indices.chunking` makes of ``target``."""
    return target_chunks(target.name, target.aliases, target.content)


def _sources(chunks: Sequence[Chunk]) -> str:
    return "".join(SOURCE_CODES[c.source] for c in chunks)


def embed_in_slices(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts`` :data:`EMBED_SLICE` at a time.

    The embedder serialises its calls; slicing a bulk import lets a scope query (one text) get
    the embedder between slices (~0.1 s) instead of after the whole batch (seconds).
    """
    if not texts:
        return np.zeros((0, embedder.dim), np.float32)
    parts = [embedder.embed(texts[i : i + EMBED_SLICE]) for i in range(0, len(texts), EMBED_SLICE)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def encode_targets(embedder: Embedder, targets: Sequence[ForgetTarget]) -> list[TargetVectors]:
    """Chunk and embed ``targets`` (one embedder call for all of them)."""
    per_target = [chunks_of(t) for t in targets]
    texts = [c.text for chunks in per_target for c in chunks]
    matrix = embed_in_slices(embedder, texts)
    out, row = [], 0
    for chunks in per_target:
        out.append(TargetVectors(_sources(chunks), matrix[row : row + len(chunks)]))
        row += len(chunks)
    return out


def reencode(embedder: Embedder, current: StoredTarget, new: ForgetTarget) -> TargetVectors | None:
    """Vectors for ``new`` reusing ``current``'s; ``None`` when the chunks did not change at all."""
    old_chunks, new_chunks = chunks_of(current.target), chunks_of(new)
    if [(c.source, c.text) for c in old_chunks] == [(c.source, c.text) for c in new_chunks]:
        return None
    known: dict[str, np.ndarray] = {}
    if current.vectors is not None and len(current.vectors.matrix) == len(old_chunks):
        known = {c.text: current.vectors.matrix[c.no] for c in old_chunks}
    missing = sorted({c.text for c in new_chunks if c.text not in known})
    if missing:
        known.update(zip(missing, embed_in_slices(embedder, missing), strict=True))
    matrix = np.stack([known[c.text] for c in new_chunks]).astype(np.float32)
    return TargetVectors(_sources(new_chunks), matrix)
