"""Low-rank adapters (LoRA) on a truncated copy of the served model, for trained assistants.

An assistant for contrastive decoding (ULD) is the served model's first ``layers`` decoder
layers, its final norm and its LM head, with a LoRA adapter ``W x + (B A x) * alpha / rank`` on
each attention and MLP projection. Everything of the served model is *shared*, never copied or
modified: :func:`adapted_first_layers` builds new containers (the model, its inner model, each
kept layer, its attention and MLP) whose children point at the original weights, and only the
adapted projections are new modules. The served model keeps serving while an assistant trains.

Only the adapters' parameters are trainable and saved (a few hundred kB for 4 layers at rank 8).

Example:
    >>> assistant, adapters = adapted_first_layers(model, layers=4, rank=8)  # doctest: +SKIP
    >>> state = adapter_state(adapters)          # what gets saved         # doctest: +SKIP
    >>> load_adapter_state(adapters, state)      # and loaded again        # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from lethe.decoders.hf.assistants import first_layers

PROJECTIONS: tuple[str, ...] = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)


class LoRALinear(nn.Module):
    """``base(x) + (x A^T B^T) * alpha / rank``; ``base`` is shared and frozen, ``B`` starts at
    zero so a fresh adapter changes nothing."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError("LoRA rank must be >= 1")
        self.base = base
        self.scale = alpha / rank
        weight = base.weight
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=weight.dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=weight.dtype))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def adapted_first_layers(
    model: nn.Module, layers: int, rank: int = 8, alpha: float = 16.0
) -> tuple[nn.Module, dict[str, LoRALinear]]:
    """The first ``layers`` layers of ``model`` with LoRA on every projection in
    :data:`PROJECTIONS`; returns the assistant and its adapters by dotted name."""
    small = first_layers(model, layers)
    blocks = small.model.layers
    adapters: dict[str, LoRALinear] = {}
    for index in range(len(blocks)):
        block = _shallow(blocks[index])
        blocks[index] = block
        for path in PROJECTIONS:
            parent_name, leaf = path.split(".")
            parent = getattr(block, parent_name, None)
            base = getattr(parent, leaf, None) if parent is not None else None
            if not isinstance(base, nn.Linear):
                continue
            if not getattr(parent, "_lethe_copy", False):
                parent = _shallow(parent)
                parent._lethe_copy = True
                setattr(block, parent_name, parent)
            adapter = LoRALinear(base, rank, alpha)
            setattr(parent, leaf, adapter)
            adapters[f"layers.{index}.{path}"] = adapter
    if not adapters:
        raise ValueError("no projection of this model could be adapted")
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # the served weights are never trained
    return small, adapters


def _shallow(module: nn.Module) -> nn.Module:
    """A new container with the same children (their weights shared), so replacing a child
    leaves the original untouched."""
    clone = copy.copy(module)
    clone._modules = dict(module._modules)
    return clone


def adapter_parameters(adapters: dict[str, LoRALinear]) -> list[nn.Parameter]:
    """The trainable parameters, in a stable order."""
    return [p for name in sorted(adapters) for p in (adapters[name].lora_a, adapters[name].lora_b)]


def adapter_state(adapters: dict[str, LoRALinear]) -> dict[str, torch.Tensor]:
    """``{name.lora_a: tensor, name.lora_b: tensor}`` for saving (contiguous CPU copies)."""
    state = {}
    for name, adapter in adapters.items():
        state[f"{name}.lora_a"] = adapter.lora_a.detach().cpu().contiguous()
        state[f"{name}.lora_b"] = adapter.lora_b.detach().cpu().contiguous()
    return state


def load_adapter_state(adapters: dict[str, LoRALinear], state: dict[str, torch.Tensor]) -> None:
    """Load saved adapter weights; every adapter must be in ``state`` with its shape."""
    expected = {f"{n}.{p}" for n in adapters for p in ("lora_a", "lora_b")}
    if set(state) != expected:
        raise ValueError("the saved adapter does not match this model's assistant layout")
    with torch.no_grad():
        for name, adapter in adapters.items():
            for part in ("lora_a", "lora_b"):
                target = getattr(adapter, part)
                source = state[f"{name}.{part}"]
                if source.shape != target.shape:
                    raise ValueError(f"{name}.{part}: shape {tuple(source.shape)} != saved")
                target.copy_(source.to(target.dtype))
