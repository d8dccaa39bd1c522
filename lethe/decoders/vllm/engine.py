"""The ``vllm`` engine: vLLM's ``AsyncLLM`` in this process, on a GPU (``lethe[vllm]``).

What it can do (:class:`Capabilities`): per-step logits (through one batch-level logits
processor registered in vLLM), ``logit_bias``, streaming, and a vocabulary (the served model's
tokenizer, loaded here too). No rollback: vLLM cannot rewind a sequence, so the
``forbidden_tokens`` technique runs as *prefix masks* here (``token_bans.py``): at every step
the tokens that would complete a forbidden string are masked. No assistant model yet.

A request: the :class:`Turn` is encoded here with the ``hf`` engine's :class:`PromptEncoder`
(chat template, user text literal), checked against the context window, and sent as token ids
with vLLM ``SamplingParams`` built by ``requests.py``; the request's forbidden strings ride in
``extra_args`` to the processor (``processor.py``, ``state.py``) in vLLM's model runner. vLLM
streams deltas, which ``outputs.py`` turns into :class:`GenerationOutput`. Closing the stream
aborts the request in vLLM. Log-probabilities are vLLM's ``processed_logprobs``: after the
mask, so a banned token never shows up in ``top_logprobs``.

vLLM itself is behind a small :class:`Backend` (``backend.py``, which imports vLLM and is
imported by :meth:`VLLMEngine.load` only); tests give the engine a scripted one.

Example:
    >>> engine = VLLMEngine(VLLMEngineConfig("/models/Qwen2.5-0.5B-Instruct"))
    >>> caps = engine.capabilities
    >>> caps.logits, caps.logit_bias, caps.rollback, engine.model_id, engine.ready
    (True, True, False, 'Qwen2.5-0.5B-Instruct', False)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from lethe.decoders.budget import completion_budget
from lethe.decoders.engine import Capabilities, EngineStats
from lethe.decoders.hf.prompt import PromptEncoder
from lethe.decoders.output import GenerationOutput
from lethe.decoders.processors import ProcessorFactory
from lethe.decoders.token_bans import TokenizerVocabulary, load_tokenizer
from lethe.decoders.turn import Turn
from lethe.decoders.vllm.config import VLLMEngineConfig, require_vllm
from lethe.decoders.vllm.outputs import Deltas
from lethe.decoders.vllm.requests import sampling_kwargs
from lethe.errors import InvalidRequest, Unavailable

logger = logging.getLogger(__name__)


class Backend(Protocol):
    """The part of vLLM the engine uses (``backend.VLLMBackend``)."""

    @property
    def max_model_len(self) -> int:
        """The context window vLLM serves the model with."""
        ...

    def generate(
        self, prompt_ids: list[int], sampling: dict[str, Any], request_id: str
    ) -> AsyncGenerator[Any, None]:
        """vLLM ``RequestOutput`` deltas for one request; closing the iterator aborts it."""
        ...

    def shutdown(self) -> None:
        """Stop vLLM and free the GPU."""
        ...


def start_vllm(config: VLLMEngineConfig) -> Backend:
    """Start vLLM's ``AsyncLLM`` (blocking: loads the model onto the GPU) on its V1 model
    runner, the one whose logits-processor interface the adapter implements."""
    require_vllm()
    os.environ.setdefault("VLLM_USE_V2_MODEL_RUNNER", "0")
    from lethe.decoders.vllm.backend import VLLMBackend

    return VLLMBackend(config)


class VLLMEngine:
    """Serves one model with vLLM (see the module docstring).

    ``start`` builds the :class:`Backend` in :meth:`load` (vLLM by default); ``tokenizer`` is
    the served model's tokenizer when already loaded (else loaded from the configuration).
    """

    def __init__(
        self,
        config: VLLMEngineConfig,
        *,
        start: Callable[[VLLMEngineConfig], Backend] = start_vllm,
        tokenizer: Any | None = None,
    ) -> None:
        self._config = config
        self._start = start
        self._backend: Backend | None = None
        self._encoder: PromptEncoder | None = None
        self._max_model_len = 0
        self._running = 0
        self._ids = itertools.count()
        source = config.tokenizer_source
        self._vocabulary = TokenizerVocabulary(
            tokenizer if tokenizer is not None else lambda: load_tokenizer(source)
        )
        self._capabilities = Capabilities(
            logits=True,
            logit_bias=True,
            rollback=False,
            assistant=False,
            streaming=True,
            vocabulary=self._vocabulary,
        )

    @property
    def model_id(self) -> str:
        """The id clients send as ``model``."""
        return self._config.model_id

    @property
    def capabilities(self) -> Capabilities:
        """Logits (prefix masks), ``logit_bias``, streaming and the model's vocabulary."""
        return self._capabilities

    @property
    def max_model_len(self) -> int:
        """Context window in tokens (configured, else vLLM's for the model); 0 before load."""
        return self._max_model_len

    @property
    def ready(self) -> bool:
        """True once vLLM runs."""
        return self._backend is not None

    def load(self) -> None:
        """Load the tokenizer and its vocabulary index, then start vLLM (blocking)."""
        if self._backend is not None:
            return
        tokenizer = self._vocabulary.tokenizer
        self._vocabulary.token_texts()  # decode the vocabulary once, now
        self._encoder = PromptEncoder(tokenizer)
        backend = self._start(self._config)
        self._max_model_len = self._config.max_model_len or backend.max_model_len
        self._backend = backend
        logger.info(
            "event=vllm_ready model=%s max_model_len=%d max_num_seqs=%d",
            self.model_id,
            self._max_model_len,
            self._config.max_num_seqs,
        )

    def stats(self) -> EngineStats:
        """Requests in flight (vLLM's own queue is not visible from here)."""
        return EngineStats(self._running, 0, self._config.max_num_seqs)

    def close(self) -> None:
        """Shut vLLM down."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.shutdown()

    async def generate(
        self, turn: Turn, processors: Sequence[ProcessorFactory] = ()
    ) -> AsyncIterator[GenerationOutput]:
        """Stream every choice's outputs; see :meth:`lethe.decoders.Engine.generate`."""
        backend, encoder = self._backend, self._encoder
        if backend is None or encoder is None:
            raise Unavailable("the model is still loading")
        if turn.params.n > self._config.max_num_seqs:
            raise InvalidRequest(
                f"n must be at most {self._config.max_num_seqs} on this server", param="n"
            )
        prompt_ids = encoder.encode(turn)
        budget = completion_budget(turn, len(prompt_ids), self._max_model_len)
        sampling = sampling_kwargs(turn.params, budget, processors)
        # vLLM needs unique ids; a turn may be sent twice (a bare decode, then a guarded one).
        request_id = f"{turn.request_id}-{next(self._ids)}"
        params = turn.params
        deltas = Deltas(len(prompt_ids), params.top_logprobs if params.logprobs else None)
        finished = 0
        self._running += 1
        try:
            stream = backend.generate(prompt_ids, sampling, request_id)
            async with contextlib.aclosing(stream):
                async for request_output in stream:
                    for output in deltas.feed(request_output):
                        finished += output.finished
                        yield output
        finally:
            self._running -= 1
        if finished < params.n:
            raise Unavailable("the vLLM engine ended a request before it finished")
