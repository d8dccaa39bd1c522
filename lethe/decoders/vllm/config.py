"""Configuration of the ``vllm`` engine (in-process vLLM on a GPU; the ``lethe[vllm]`` extra).

Example:
    >>> cfg = VLLMEngineConfig(model="/models/Qwen2.5-0.5B-Instruct", max_num_seqs=16)
    >>> cfg.model_id, cfg.logprobs_mode
    ('Qwen2.5-0.5B-Instruct', 'processed_logprobs')
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from lethe.errors import ConfigurationError

VLLM_VERSION = "0.29.0"
"""The vLLM release the adapter is written against (``pip install 'lethe[vllm]'`` pins it).

Its V1 model runner takes batch-level logits processors (``vllm.v1.sample.logits_processor``:
``update_state(BatchUpdate)`` with removed / added / moved rows, ``apply(logits)``); a request's
row is its index in the persistent batch. Other releases differ: before 0.10.2 there were no
custom processors, 0.10.x passed added requests without their prompt ids, and the Model Runner
V2 of later releases has another processor interface (a logits row is not a request there), so
the engine asks for the V1 runner (``VLLM_USE_V2_MODEL_RUNNER=0``). The adapter was not run
against a GPU here; see docs/engine.md."""


@dataclass(frozen=True, slots=True)
class VLLMEngineConfig:
    """Everything the ``vllm`` engine passes to vLLM's ``AsyncEngineArgs``.

    ``model``: a model directory or a Hugging Face name (in the local cache when offline).
    ``tokenizer``: when not the model's own; Lethe loads the same one locally to encode prompts
    and to name the token ids of forbidden strings. ``served_model_name``: the id clients use
    (the model's directory name when None). ``dtype``: ``auto`` lets vLLM choose.
    ``max_model_len`` None takes the model's. ``max_num_seqs``: sequences decoded together.
    ``gpu_memory_utilization`` and ``tensor_parallel_size`` as in vLLM. ``logprobs_mode`` is
    ``processed_logprobs`` so that a token Lethe banned never shows up in ``top_logprobs``.
    """

    model: str | Path
    tokenizer: str | Path | None = None
    served_model_name: str | None = None
    dtype: str = "auto"
    max_model_len: int | None = None
    max_num_seqs: int = 64
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    logprobs_mode: str = "processed_logprobs"

    def __post_init__(self) -> None:
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError("gpu_memory_utilization must be in (0, 1]")
        if self.max_num_seqs < 1 or self.tensor_parallel_size < 1:
            raise ValueError("max_num_seqs and tensor_parallel_size must be at least 1")

    @property
    def model_id(self) -> str:
        """The id clients send as ``model``."""
        return self.served_model_name or Path(str(self.model)).name

    @property
    def tokenizer_source(self) -> str:
        """Where the tokenizer comes from: ``tokenizer``, else the model."""
        return str(self.tokenizer or self.model)


def require_vllm() -> None:
    """Raise :class:`ConfigurationError` unless vLLM is installed (it is never imported here).

    >>> try:
    ...     require_vllm()
    ... except ConfigurationError as exc:
    ...     assert "lethe[vllm]" in str(exc)
    """
    if importlib.util.find_spec("vllm") is None:
        raise ConfigurationError(
            f"engine 'vllm' needs vLLM, which is not installed: pip install 'lethe[vllm]' "
            f"(vLLM {VLLM_VERSION}, on a Linux machine with a CUDA GPU), or use engine 'hf', "
            "or engine 'upstream' in front of a vLLM server"
        )
