"""Lethe's masking as a vLLM batch-level logits processor: the thin adapter around
:class:`~lethe.decoders.vllm.state.BatchBans` (all the logic is there, tested on the CPU).

This module imports vLLM; only vLLM imports it (the engine passes the class in its
``logits_processors``), in each process of its model runner. Written against the V1 model
runner's interface of the vLLM release in :data:`~lethe.decoders.vllm.config.VLLM_VERSION`:

- ``validate_params`` (called when a request arrives, before it is queued): a malformed
  ``extra_args["lethe"]`` refuses the request.
- ``__init__``: loads the served model's tokenizer (the one vLLM was configured with) and
  indexes its vocabulary once, so the first guarded request pays nothing for it.
- ``is_argmax_invariant`` is False: masking changes the arg-max, so greedy requests run it.
- ``needs_output_token_ids`` is True: under async scheduling vLLM fills the output lists with
  the real ids (not placeholders) for processors that ask.
- ``update_state`` / ``apply``: the batch changes and the mask, handed to ``BatchBans``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor

from lethe.decoders.token_bans import TokenizerVocabulary
from lethe.decoders.vllm.extra_args import from_extra_args
from lethe.decoders.vllm.state import BatchBans, detokenizer_of

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.config import VllmConfig


class LetheLogitsProcessor(LogitsProcessor):
    """Masks, per guarded row, the tokens that would complete one of its forbidden strings."""

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        """Refuse (``ValueError``) a request whose Lethe data is malformed."""
        from_extra_args(sampling_params.extra_args)

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool) -> None:
        # The base class's __init__ is abstract (it raises); it is not called.
        tokenizer = _load_tokenizer(vllm_config.model_config)
        self._bans = BatchBans(TokenizerVocabulary(tokenizer), detokenizer_of(tokenizer))

    def is_argmax_invariant(self) -> bool:
        """False: a ban can remove the most likely token."""
        return False

    @classmethod
    def needs_output_token_ids(cls) -> bool:
        """True: the bans read the tokens' text."""
        return True

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        """Follow the persistent batch's changes (None: no change this step)."""
        self._bans.update(batch_update)

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Set the guarded rows' banned logits to -inf; other rows are untouched."""
        return self._bans.apply(logits)


def _load_tokenizer(model_config: Any) -> Any:
    """The tokenizer vLLM serves the model with, loaded with transformers as vLLM does."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        model_config.tokenizer,
        revision=getattr(model_config, "tokenizer_revision", None),
        trust_remote_code=getattr(model_config, "trust_remote_code", False),
    )
