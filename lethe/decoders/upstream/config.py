"""Configuration of the ``upstream`` engine: any OpenAI-compatible server behind Lethe.

Example:
    >>> cfg = UpstreamEngineConfig(base_url="http://127.0.0.1:8080/v1", model="smollm2")
    >>> cfg.model_id, "api_key" in repr(cfg)
    ('smollm2', False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_MODEL_LEN = 32768
"""Context window assumed when neither the configuration nor the upstream's model list says;
the upstream enforces its own (its 400 reaches the client as a 400)."""


@dataclass(frozen=True, slots=True)
class UpstreamEngineConfig:
    """Everything the ``upstream`` engine needs.

    ``base_url``: the upstream's OpenAI API root, ``/v1`` included
    (``http://vllm:8000/v1``, ``http://127.0.0.1:8080/v1``, ``https://api.openai.com/v1``).
    ``api_key``: sent as ``Authorization: Bearer``; never logged, never in an error message.
    ``model``: the upstream's model name; None asks the upstream (the first of ``GET /models``).
    ``served_model_name``: the id Lethe's clients use; the upstream's name when None.
    ``tokenizer``: the upstream model's tokenizer, loaded locally (a directory, a ``.gguf``
    file, or a Hugging Face name already in the local cache). Without it the engine offers no
    vocabulary, so ``forbidden_tokens`` cannot run on it (start-up fails and says so).
    ``max_model_len``: the context window; None takes the upstream's ``max_model_len`` from
    ``GET /models`` when it reports one (vLLM does), else :data:`DEFAULT_MAX_MODEL_LEN`.
    ``connect_timeout_s``: per connection attempt; connect failures (refused, unreachable,
    timed out) are retried ``retries`` times with a short backoff, nothing else is (a request
    that reached the upstream may have started generating). It also bounds the wait for a free
    pooled connection (then 429). ``read_timeout_s``: the longest silence allowed between two
    pieces of the upstream's answer (then 504). ``max_connections``: the pool's size, i.e.
    concurrent upstream requests; idle connections are kept for reuse.
    """

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    served_model_name: str | None = None
    tokenizer: str | Path | None = None
    max_model_len: int | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    retries: int = 2
    max_connections: int = 64

    def __post_init__(self) -> None:
        if self.retries < 0 or self.max_connections < 1:
            raise ValueError("retries must be >= 0 and max_connections >= 1")
        if min(self.connect_timeout_s, self.read_timeout_s) <= 0:
            raise ValueError("timeouts must be positive")

    @property
    def model_id(self) -> str | None:
        """The id clients use, when known before the upstream is asked."""
        return self.served_model_name or self.model
