from __future__ import annotations

import threading

import numpy as np
import pytest

from lethe.errors import ConfigurationError
from lethe.indices.embedder import (
    DEFAULT_MODEL_NAME,
    Embedder,
    SentenceTransformerEmbedder,
    default_model_path,
)
from tests.indices.fakes import HashingEmbedder


def test_protocol_is_structural():
    assert isinstance(HashingEmbedder(), Embedder)
    assert isinstance(SentenceTransformerEmbedder(), Embedder)


def test_name_and_dim_without_loading_the_model():
    emb = SentenceTransformerEmbedder()
    assert emb.name == DEFAULT_MODEL_NAME and emb.dim == 384
    assert emb._model is None  # dim came from the model's config files
    assert SentenceTransformerEmbedder(default_model_path(), name="minilm").name == "minilm"


def test_missing_model_folder_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError):
        SentenceTransformerEmbedder(tmp_path / "nothing").embed(["x"])


@pytest.mark.embedder
def test_real_embeddings_are_unit_float32(real_embedder):
    v = real_embedder.embed(["Who was Albert Einstein?", "", "東京はどこですか"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert real_embedder.embed([]).shape == (0, 384)


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("anchor", "paraphrase", "unrelated"),
    [
        (
            "Where was Albert Einstein born?",
            "What is the birthplace of Einstein?",
            "How do I bake sourdough bread?",
        ),
        (
            "Ada Quill is a chemist who lives in Ulm.",
            "The chemist Ada Quill resides in the city of Ulm.",
            "The stock market fell sharply on Tuesday.",
        ),
        ("nerve agent synthesis", "how to make sarin", "planting tomatoes in spring"),
    ],
)
def test_paraphrases_score_higher_than_unrelated(real_embedder, anchor, paraphrase, unrelated):
    a, p, u = real_embedder.embed([anchor, paraphrase, unrelated])
    assert float(a @ p) > float(a @ u) + 0.2


@pytest.mark.embedder
def test_concurrent_calls_are_safe_and_deterministic(real_embedder):
    texts = [f"sentence number {i} about physics" for i in range(16)]
    expected = real_embedder.embed(texts)
    results: list[np.ndarray] = []

    def work():
        results.append(real_embedder.embed(texts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.allclose(r, expected, atol=1e-5) for r in results)


@pytest.mark.embedder
def test_small_batches_run_single_threaded_and_restore_torch_threads(torch_embedder):
    import torch

    before = torch.get_num_threads()
    torch_embedder.embed(["one query"])
    torch_embedder.embed([f"text {i}" for i in range(20)])
    assert torch.get_num_threads() == before


def test_urgent_callers_go_before_waiting_bulk_callers():
    import time

    from lethe.indices.embedder import PriorityLock

    lock = PriorityLock()
    order: list[str] = []
    release_first = threading.Event()

    def first():
        with lock.hold(urgent=False):
            release_first.wait(5)

    def caller(name: str, urgent: bool):
        with lock.hold(urgent=urgent):
            order.append(name)

    t0 = threading.Thread(target=first)
    t0.start()
    time.sleep(0.02)
    bulk = threading.Thread(target=caller, args=("bulk", False))
    bulk.start()
    time.sleep(0.02)
    query = threading.Thread(target=caller, args=("query", True))
    query.start()
    time.sleep(0.02)
    release_first.set()
    for t in (t0, bulk, query):
        t.join(5)
    assert order == ["query", "bulk"]
