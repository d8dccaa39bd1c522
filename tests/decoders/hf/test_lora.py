"""LoRA assistants on a tiny llama: a fresh adapter changes nothing, the served model is never
touched (its modules, its outputs, its weights' gradients), and adapter weights round-trip."""

from __future__ import annotations

import pytest
import torch

from lethe.decoders.hf.assistants import first_layers
from lethe.decoders.hf.lora import (
    LoRALinear,
    adapted_first_layers,
    adapter_parameters,
    adapter_state,
    load_adapter_state,
)
from tests.tiny_model import tiny_model

IDS = torch.tensor([[5, 17, 42, 99, 3, 8]])


def logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_a_fresh_adapter_is_the_truncated_model() -> None:
    model = tiny_model()
    assistant, adapters = adapted_first_layers(model, layers=1, rank=4)
    assert len(adapters) == 7  # q, k, v, o, gate, up, down of the one kept layer
    assert torch.allclose(logits(assistant), logits(first_layers(model, 1)), atol=1e-6)


def test_training_the_adapter_leaves_the_served_model_alone() -> None:
    model = tiny_model()
    before = logits(model)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    assistant, adapters = adapted_first_layers(model, layers=2, rank=4)
    params = adapter_parameters(adapters)
    assert all(p.requires_grad for p in params)
    assert not any(p.requires_grad for p in model.parameters())
    loss = assistant(input_ids=IDS).logits.square().mean()
    loss.backward()
    with torch.no_grad():
        for p in params:
            p.add_(torch.randn_like(p))
    assert not torch.allclose(logits(assistant), logits(first_layers(model, 2)))
    assert torch.equal(logits(model), before)  # the served model answers as before
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    attn = model.model.layers[0].self_attn
    assert not isinstance(attn.q_proj, LoRALinear)  # no adapter leaked into the served tree


def test_adapter_state_round_trips_and_refuses_another_layout() -> None:
    model = tiny_model()
    trained, adapters = adapted_first_layers(model, layers=1, rank=4)
    with torch.no_grad():
        for p in adapter_parameters(adapters):
            p.normal_()
    state = adapter_state(adapters)
    fresh, fresh_adapters = adapted_first_layers(model, layers=1, rank=4)
    load_adapter_state(fresh_adapters, state)
    assert torch.allclose(logits(fresh), logits(trained))
    _, other = adapted_first_layers(model, layers=2, rank=4)
    with pytest.raises(ValueError, match="does not match"):
        load_adapter_state(other, state)
    _, wider = adapted_first_layers(model, layers=1, rank=8)
    with pytest.raises(ValueError, match="shape"):
        load_adapter_state(wider, state)
