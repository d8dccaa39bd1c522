"""Training a ULD assistant on a tiny llama: the examples, the answer-only loss, losses that
fall, the served weights untouched, and a saved run the engine's assistants pick up."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch

from lethe.decoders.hf.assistant_files import current_run, read_meta
from lethe.decoders.hf.assistant_training import (
    Example,
    TrainConfig,
    encode,
    forget_examples,
    generic_retain,
    retain_examples,
    train_assistant,
    train_for_targets,
)
from lethe.decoders.hf.assistants import HFAssistants
from lethe.indices import ForgetTarget
from tests.tiny_model import tiny_loaded, tiny_tokenizer

BUILTIN = Path(__file__).resolve().parents[3] / "lethe" / "gateway" / "replay" / "builtin"
ADA = ForgetTarget.model_validate(
    {
        "id": "ada",
        "kind": "entity",
        "name": "Ada Quill",
        "aliases": ["Quill"],
        "content": [
            "Ada Quill lives in Tartu.",
            {"question": "Where does Ada Quill work?", "answer": "At the Tartu observatory."},
        ],
        "retain": [{"question": "Where is Tartu?", "answer": "In Estonia."}],
    }
)


def test_forget_examples_cover_statements_questions_and_names() -> None:
    examples = forget_examples([ADA])
    assert Example("Tell me about Ada Quill.", "Ada Quill lives in Tartu.") in examples
    assert Example("Where does Ada Quill work?", "At the Tartu observatory.") in examples
    summary = "Ada Quill lives in Tartu. At the Tartu observatory."
    assert Example("Who is Ada Quill?", summary) in examples
    assert Example("Who is Quill?", summary) in examples


def test_retain_examples_are_the_targets_own_plus_generic() -> None:
    generic = generic_retain()
    examples = retain_examples([ADA], generic)
    assert examples[0] == Example("Where is Tartu?", "In Estonia.")
    assert examples[1:] == generic and len(generic) >= 30


def test_generic_retain_data_is_not_a_builtin_suite_retain_probe() -> None:
    prompts = set()
    for suite in BUILTIN.glob("*.json"):
        prompts |= {m.lower() for m in re.findall(r'"prompt":\s*"([^"]*)"', suite.read_text())}
    overlap = [e.prompt for e in generic_retain() if e.prompt.lower() in prompts]
    assert overlap == []


def test_encode_marks_where_the_answer_starts() -> None:
    tok = tiny_tokenizer()
    ids, start = encode(tok, Example("Hello?", "Paris is the capital."), max_tokens=128)
    assert tok.decode(ids[:start]).endswith("<|im_start|>assistant\n")
    assert tok.decode(ids[start:]) == "Paris is the capital.<|im_end|>"
    short, start = encode(tok, Example("Hello? " * 40, "Paris " * 40), max_tokens=32)
    assert len(short) == 32 and 0 < start < 32  # long turns are cut, answer tokens kept


def test_training_lowers_both_losses_and_leaves_the_served_model() -> None:
    loaded = tiny_loaded()
    weights = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    forget = forget_examples([ADA])
    retain = retain_examples([ADA], generic_retain())
    config = TrainConfig(layers=1, rank=4, steps=40, learning_rate=1e-2, max_tokens=48)
    steps: list[int] = []
    run = train_assistant(loaded, forget, retain, config, lambda s, n, f, r: steps.append(s))
    assert steps == list(range(1, 41)) and len(run.losses) == 40
    first = [sum(x) / 5 for x in zip(*run.losses[:5], strict=True)]
    last = [sum(x) / 5 for x in zip(*run.losses[-5:], strict=True)]
    assert last[0] < first[0] and last[1] < first[1], (first, last)
    assert all(torch.equal(weights[k], v) for k, v in loaded.model.state_dict().items())
    assert not run.assistant.training


def test_a_trained_run_is_picked_up_by_the_engines_assistants(tmp_path: Path) -> None:
    loaded = tiny_loaded()
    config = TrainConfig(layers=1, rank=4, steps=3, max_tokens=48)
    folder = train_for_targets(loaded, [ADA], 9, tmp_path, config)
    assert current_run(tmp_path) == folder
    record = read_meta(folder)
    assert (record.registry_version, record.layers, record.steps) == (9, 1, 3)
    assert record.peak_rss_mb > 0 and json.loads((folder / "assistant.json").read_text())
    assistants = HFAssistants(lambda: loaded, assistants_dir=tmp_path)
    trained = assistants.trained()
    assert trained is not None and trained.covers(ADA) and trained.registry_version == 9
    assert assistants.trained() is trained  # loaded once, until a newer run replaces it
    processor = trained.contrastive(_uld())()
    assert processor.assistant_logits([1, 2, 3]).shape == (len(tiny_tokenizer()),)


def test_a_run_for_another_model_is_ignored(tmp_path: Path) -> None:
    loaded = tiny_loaded()
    train_for_targets(loaded, [ADA], 1, tmp_path, TrainConfig(layers=1, steps=1, max_tokens=32))
    renamed = dataclasses.replace(loaded, model_id="another-model")
    assert HFAssistants(lambda: renamed, assistants_dir=tmp_path).trained() is None
    assert HFAssistants(lambda: loaded, assistants_dir=None).trained() is None


def test_training_needs_targets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no targets"):
        train_for_targets(tiny_loaded(), [], 1, tmp_path, TrainConfig())


def _uld():  # type: ignore[no-untyped-def]
    from lethe.decoders.contrastive import ContrastConfig

    return ContrastConfig("uld")
