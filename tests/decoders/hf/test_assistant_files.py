"""Trained-assistant runs on disk: the pointer names a complete run, a missing or broken run
reads as none, and an edited target is no longer covered."""

from __future__ import annotations

from pathlib import Path

import torch

from lethe.decoders.hf.assistant_files import (
    AssistantMeta,
    current_run,
    fingerprint,
    read_adapter,
    read_meta,
    save_run,
)
from lethe.decoders.hf.lora import adapted_first_layers
from lethe.indices import ForgetTarget
from tests.tiny_model import tiny_model

ADA = ForgetTarget(id="ada", kind="entity", name="Ada Quill", content=["Ada lives in Tartu."])


def meta(version: int = 3, covers: dict[str, str] | None = None) -> AssistantMeta:
    return AssistantMeta(
        model_id="tiny-llama",
        layers=1,
        rank=4,
        alpha=8.0,
        registry_version=version,
        covers=covers if covers is not None else {ADA.id: fingerprint(ADA)},
        steps=2,
        wall_s=0.1,
        peak_rss_mb=100.0,
        final_losses=(1.0, 2.0),
        trained_at=0.0,
    )


def test_a_saved_run_becomes_current_and_reads_back(tmp_path: Path) -> None:
    assert current_run(tmp_path) is None
    _, adapters = adapted_first_layers(tiny_model(), layers=1, rank=4)
    first = save_run(tmp_path, adapters, meta(3))
    second = save_run(tmp_path, adapters, meta(4))
    assert current_run(tmp_path) == second and first.is_dir()
    assert read_meta(second) == meta(4)
    state = read_adapter(second)
    assert set(state) == {f"{n}.{p}" for n in adapters for p in ("lora_a", "lora_b")}
    assert all(isinstance(t, torch.Tensor) for t in state.values())
    assert not list(tmp_path.glob(".current-*"))  # no temp file left behind


def test_a_pointer_to_an_incomplete_run_reads_as_none(tmp_path: Path) -> None:
    _, adapters = adapted_first_layers(tiny_model(), layers=1, rank=4)
    run = save_run(tmp_path, adapters, meta())
    (run / "adapter.safetensors").unlink()
    assert current_run(tmp_path) is None


def test_an_edited_target_is_no_longer_covered() -> None:
    record = meta()
    assert record.covers_target(ADA)
    edited = ADA.model_copy(update={"content": ("Ada lives in Riga.",)})
    assert not record.covers_target(edited)
    other = ForgetTarget(id="bea", kind="entity", name="Bea Lorn")
    assert not record.covers_target(other)
    renamed_policy = ADA.model_copy(update={"reason": "GDPR request"})  # not read by training
    assert record.covers_target(renamed_policy)
