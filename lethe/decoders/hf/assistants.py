"""The ``hf`` engine's assistants for contrastive decoding: its own model, whole or truncated.

The assistant shares the served model's weights (nothing is copied). With ``layers``, it is the
model's first ``layers`` decoder layers plus the final norm and the LM head, a cheaper
assistant built by shallow copies of the module tree (the original is untouched). The forget
context is tokenised once per request and cut to its last ``max_context_tokens``.

Example:
    >>> assistants = HFAssistants(lambda: loaded)                   # doctest: +SKIP
    >>> factory = assistants.contrastive("Albert Einstein ...", ContrastConfig())  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

import torch

from lethe.decoders.contrastive import ContrastConfig, ContrastiveFactory
from lethe.decoders.hf.kv_cache import new_cache
from lethe.decoders.hf.loader import LoadedModel
from lethe.decoders.processors import ProcessorFactory
from lethe.errors import ConfigurationError, Unavailable

MAX_CONTEXT_TOKENS = 512


class HFAssistants:
    """Contrastive-decoding factories over the engine's loaded model (see the module doc)."""

    def __init__(
        self, loaded: Callable[[], LoadedModel | None], max_context_tokens: int = MAX_CONTEXT_TOKENS
    ) -> None:
        self._loaded = loaded
        self._max_context = max_context_tokens
        self._truncated: dict[int, torch.nn.Module] = {}
        self._lock = threading.Lock()

    def contrastive(
        self, context: str, config: ContrastConfig, *, layers: int | None = None
    ) -> ProcessorFactory:
        """A factory of processors whose assistant is conditioned on ``context``."""
        loaded = self._loaded()
        if loaded is None:
            raise Unavailable("The model is still loading; retry shortly.")
        ids = loaded.tokenizer(context, add_special_tokens=False)["input_ids"]
        model = loaded.model if layers is None else self._first_layers(loaded.model, layers)
        return ContrastiveFactory(
            model, new_cache, tuple(ids[-self._max_context :]), config, loaded.device
        )

    def _first_layers(self, model: torch.nn.Module, layers: int) -> torch.nn.Module:
        with self._lock:
            if layers not in self._truncated:
                self._truncated[layers] = first_layers(model, layers)
            return self._truncated[layers]


def first_layers(model: torch.nn.Module, layers: int) -> torch.nn.Module:
    """A view of a decoder-only ``model`` with only its first ``layers`` layers (shared weights)."""
    inner = getattr(model, "model", None)
    blocks = getattr(inner, "layers", None)
    if inner is None or blocks is None:
        raise ConfigurationError("this model's layers cannot be truncated for an assistant")
    if not 1 <= layers <= len(blocks):
        raise ConfigurationError(f"assistant layers must be between 1 and {len(blocks)}")
    config = copy.copy(model.config)
    config.num_hidden_layers = layers
    small_inner = copy.copy(inner)
    small_inner._modules = dict(inner._modules)
    small_inner.layers = torch.nn.ModuleList(list(blocks)[:layers])
    small_inner.config = config
    small = copy.copy(model)
    small._modules = dict(model._modules)
    small.model = small_inner
    small.config = config
    return small
