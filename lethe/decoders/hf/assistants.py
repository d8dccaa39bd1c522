"""The ``hf`` engine's assistants for contrastive decoding: its own model, whole or truncated,
and trained ones.

The assistant shares the served model's weights (nothing is copied). With ``layers``, it is the
model's first ``layers`` decoder layers plus the final norm and the LM head, a cheaper
assistant built by shallow copies of the module tree (the original is untouched). The forget
context is tokenised once per request and cut to its last ``max_context_tokens``.

A *trained* assistant (``lethe assistants train``; ``assistant_training.py``) is such a
truncated model plus a LoRA adapter, read from ``assistants_dir``; :meth:`HFAssistants.trained`
returns the current one, reloaded when a newer run replaces it.

Example:
    >>> assistants = HFAssistants(lambda: loaded)                   # doctest: +SKIP
    >>> factory = assistants.contrastive("Albert Einstein ...", ContrastConfig())  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from lethe.decoders.contrastive import ContrastConfig, ContrastiveFactory
from lethe.decoders.hf.kv_cache import new_cache
from lethe.decoders.hf.loader import LoadedModel
from lethe.decoders.processors import ProcessorFactory
from lethe.errors import ConfigurationError, Unavailable
from lethe.indices import ForgetTarget

logger = logging.getLogger(__name__)

MAX_CONTEXT_TOKENS = 512


class HFAssistants:
    """Contrastive-decoding factories over the engine's loaded model (see the module doc)."""

    def __init__(
        self,
        loaded: Callable[[], LoadedModel | None],
        max_context_tokens: int = MAX_CONTEXT_TOKENS,
        assistants_dir: Path | None = None,
    ) -> None:
        self._loaded = loaded
        self._max_context = max_context_tokens
        self._truncated: dict[int, torch.nn.Module] = {}
        self._lock = threading.Lock()
        self._dir = assistants_dir
        self._trained: TrainedAssistant | None = None

    def trained(self) -> TrainedAssistant | None:
        """The current trained assistant for the served model, or None (none trained yet, or
        trained for another model). A newer run is picked up at the next call."""
        loaded = self._loaded()
        if self._dir is None or loaded is None:
            return None
        from lethe.decoders.hf.assistant_files import current_run

        folder = current_run(self._dir)
        if folder is None:
            return None
        with self._lock:
            if self._trained is None or self._trained.folder != folder:
                self._trained = _load_trained(loaded, folder)
            trained = self._trained
        return trained if trained.model is not None else None

    def train(
        self,
        targets: Sequence[ForgetTarget],
        registry_version: int,
        config: Any,
        progress: Callable[[int, int, float, float], None] | None = None,
    ) -> Path:
        """Train an assistant on ``targets`` (``config``: a
        :class:`~lethe.decoders.hf.assistant_training.TrainConfig`) and make it the current
        one; returns its folder. Blocking: minutes on a CPU; call it from a worker thread."""
        from lethe.decoders.hf.assistant_training import train_for_targets

        loaded = self._loaded()
        if loaded is None:
            raise Unavailable("The model is still loading; retry shortly.")
        if self._dir is None:
            raise ConfigurationError("no assistants_dir is configured to keep the assistant in")
        return train_for_targets(loaded, targets, registry_version, self._dir, config, progress)

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


class TrainedAssistant:
    """A trained (LoRA) assistant and what it covers; ``model`` is None when it was trained for
    another served model (it is then ignored)."""

    def __init__(self, folder: Path, meta: Any, model: torch.nn.Module | None, device: Any):
        self.folder = folder
        self.meta = meta
        self.model = model
        self._device = device

    @property
    def registry_version(self) -> int:
        """The registry version the training read."""
        return int(self.meta.registry_version)

    def covers(self, target: ForgetTarget) -> bool:
        """Whether ``target``, as it is now, was trained on."""
        return bool(self.meta.covers_target(target))

    def contrastive(self, config: ContrastConfig) -> ProcessorFactory:
        """Processors whose assistant is this model, seeing exactly the request's tokens."""
        return ContrastiveFactory(self.model, new_cache, (), config, self._device)


def _load_trained(loaded: LoadedModel, folder: Path) -> TrainedAssistant:
    from lethe.decoders.hf.assistant_files import read_adapter, read_meta
    from lethe.decoders.hf.lora import adapted_first_layers, load_adapter_state

    meta = read_meta(folder)
    if meta.model_id != loaded.model_id:
        logger.warning(
            "event=assistant_ignored folder=%s trained_for=%s served=%s",
            folder.name,
            meta.model_id,
            loaded.model_id,
        )
        return TrainedAssistant(folder, meta, None, loaded.device)
    model, adapters = adapted_first_layers(loaded.model, meta.layers, meta.rank, meta.alpha)
    load_adapter_state(adapters, read_adapter(folder))
    model.eval()
    logger.info(
        "event=assistant_loaded folder=%s layers=%d covers=%d registry_version=%d",
        folder.name,
        meta.layers,
        len(meta.covers),
        meta.registry_version,
    )
    return TrainedAssistant(folder, meta, model, loaded.device)
