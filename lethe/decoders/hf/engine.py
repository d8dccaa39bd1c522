"""The ``hf`` engine: any transformers causal LM, decoded by Lethe's own batched loop.

Our own loop (not ``model.generate``) because unlearning needs per-step logits, per-request
logits processors and, later, rollback. The asyncio side validates and tokenises the request,
hands a :class:`Job` to the worker thread (:class:`Scheduler`) and streams the job's outputs;
closing the stream cancels the job.

Example:
    >>> engine = HFEngine(HFEngineConfig())        # the embedded SmolLM2    # doctest: +SKIP
    >>> engine.load()                                                        # doctest: +SKIP
    >>> async for out in engine.generate(turn): print(out.text, end="")      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import torch

from lethe.decoders.budget import completion_budget
from lethe.decoders.engine import Capabilities, EngineStats
from lethe.decoders.hf.assistants import HFAssistants
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.job import Job
from lethe.decoders.hf.kv_cache import new_cache
from lethe.decoders.hf.loader import LoadedModel, load_model
from lethe.decoders.hf.prompt import PromptEncoder
from lethe.decoders.hf.scheduler import Scheduler
from lethe.decoders.output import GenerationOutput
from lethe.decoders.processors import ProcessorFactory
from lethe.decoders.turn import Turn
from lethe.errors import InvalidRequest, Unavailable

logger = logging.getLogger(__name__)

CAPABILITIES = Capabilities(
    logits=True, logit_bias=True, rollback=True, assistant=True, streaming=True
)


class HFEngine:
    """Serves one transformers model with continuous batching on a worker thread."""

    def __init__(self, config: HFEngineConfig) -> None:
        self._config = config
        self._loaded: LoadedModel | None = None
        self._encoder: PromptEncoder | None = None
        self._scheduler: Scheduler | None = None
        self._capabilities = dataclasses.replace(
            CAPABILITIES,
            assistants=HFAssistants(
                lambda: self._loaded,
                assistants_dir=Path(config.assistants_dir) if config.assistants_dir else None,
            ),
        )

    @classmethod
    def from_loaded(cls, loaded: LoadedModel, config: HFEngineConfig) -> HFEngine:
        """An engine over an already loaded model (tests and benchmarks share one load)."""
        engine = cls(config)
        engine._start(loaded)
        return engine

    @property
    def model_id(self) -> str:
        """The id clients send as ``model``."""
        if self._loaded is not None:
            return self._loaded.model_id
        return self._config.served_model_name or "unloaded"

    @property
    def capabilities(self) -> Capabilities:
        """Per-step logits, logit bias, rollback, assistant models (contrastive decoding over
        this engine's own model), streaming."""
        return self._capabilities

    @property
    def max_model_len(self) -> int:
        """Context window in tokens."""
        return self._loaded.max_model_len if self._loaded is not None else 0

    @property
    def ready(self) -> bool:
        """True once the model is loaded and the worker runs."""
        return self._scheduler is not None

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model and tokenizer (None before ``load``)."""
        return self._loaded

    def load(self) -> None:
        """Load the model and start the worker thread (blocking); a no-op when already loaded."""
        if self._scheduler is not None:
            return
        self._start(load_model(self._config))

    def _start(self, loaded: LoadedModel) -> None:
        _warm_up(loaded)
        self._loaded = loaded
        self._encoder = PromptEncoder(loaded.tokenizer)
        scheduler = Scheduler(
            loaded,
            max_batch_size=self._config.max_batch_size,
            max_waiting=self._config.max_waiting,
            threads=self._config.worker_threads,
        )
        scheduler.start()
        self._scheduler = scheduler

    def stats(self) -> EngineStats:
        """Running and waiting requests."""
        if self._scheduler is None:
            return EngineStats(0, 0, self._config.max_waiting)
        return self._scheduler.stats()

    def close(self) -> None:
        """Stop the worker; requests in flight end with :class:`Unavailable`."""
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None

    async def generate(
        self, turn: Turn, processors: Sequence[ProcessorFactory] = ()
    ) -> AsyncIterator[GenerationOutput]:
        """Stream every choice's outputs; see :meth:`lethe.decoders.Engine.generate`."""
        scheduler, encoder = self._scheduler, self._encoder
        if scheduler is None or encoder is None:
            raise Unavailable("the model is still loading")
        prompt_ids = encoder.encode(turn)
        loop = asyncio.get_running_loop()
        job = Job(
            turn=turn,
            prompt_ids=prompt_ids,
            max_new_tokens=completion_budget(turn, len(prompt_ids), self.max_model_len),
            processors=tuple(processors),
            loop=loop,
            queue=asyncio.Queue(),
        )
        if turn.params.n > self._config.max_batch_size:
            raise InvalidRequest(
                f"n must be at most {self._config.max_batch_size} on this server", param="n"
            )
        scheduler.submit(job)
        try:
            finished = 0
            while finished < job.n:
                item = await job.queue.get()
                if isinstance(item, BaseException):
                    raise item
                for output in item:
                    finished += output.finished
                    yield output
        finally:
            job.cancel()


def _warm_up(loaded: LoadedModel) -> None:
    """One tiny prefill and decode step, so that the first request does not pay for lazy
    initialisation (kernel selection, allocator growth): readiness means warm."""
    ids = torch.tensor([[1, 2, 3, 4]], device=loaded.device)
    cache = new_cache()
    with torch.inference_mode():
        loaded.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
        loaded.model(input_ids=ids[:, :1], cache=cache, use_cache=True, logits_to_keep=1)
