"""The ONNX Runtime embedder: config checks, names, the export cache, and agreement with torch.

Fast tests need no model; ``@pytest.mark.embedder`` ones use the exports cached by the
``onnx_embedders`` fixture (see conftest). The behaviour tests shared with the torch embedder
(unit rows, paraphrases, concurrency, the store end to end) run over every backend through the
parametrised ``real_embedder`` fixture.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lethe.errors import ConfigurationError
from lethe.indices import onnx_embedder as oe
from lethe.indices.embedder import DEFAULT_MODEL_NAME, Embedder, default_model_path
from lethe.indices.onnx_embedder import ModelFolder, OnnxEmbedder, padded
from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from lethe.indices.targets import ForgetTarget
from tests.indices.conftest import HAS_ORT
from tests.indices.fakes import HashingEmbedder

needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed")

SUBJECTS = ["Albert Einstein", "sourdough bread", "the stock market", "Ada Quill", "volcanoes",
            "the French Revolution", "photosynthesis", "jazz", "bitcoin", "tulips"]  # fmt: skip
TEMPLATES = ["Who is {s}?", "Tell me everything about {s}.", "{s}", "What is the history of {s}?",
             "I read a long article about {s} yesterday and I have questions.",
             "Is {s} dangerous?", "WHERE CAN I LEARN ABOUT {s}", "{s}: a short summary, please",
             "Explain {s} to a child in two sentences.",
             "Compare {s} with something else."]  # fmt: skip
VARIED = [t.format(s=s) for s in SUBJECTS for t in TEMPLATES] + [
    "",
    "東京はどこですか",
    "Wie spät ist es in Berlin?",
    "¿Dónde está la biblioteca?",
    "555-0142 is Ada Quill's phone number.",
    "E-i-n-s-t-e-i-n",
    "Albert Einstein developed the theory of relativity in Bern and Berlin. " * 20,  # truncated
    *[
        f"Where does Kalo Vetuzor{i} live? Ulm\nWhat is his job? He is a chemist."
        for i in range(93)
    ],
]


def copy_model(tmp_path: Path) -> Path:
    """The packaged model's config files (not its weights) in a folder of our own."""
    dst = tmp_path / "model"
    src = default_model_path()
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return dst


# -- no model needed ----------------------------------------------------------------------------


def test_model_folder_reads_the_packaged_config():
    folder = ModelFolder.read(default_model_path())
    assert (folder.max_length, folder.lowercase) == (256, False)


def test_model_folder_refuses_other_pooling_and_missing_files(tmp_path):
    path = copy_model(tmp_path)
    (path / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 384, "pooling_mode_cls_token": True})
    )
    with pytest.raises(ConfigurationError, match="mean Pooling") as bad:
        ModelFolder.read(path)
    assert bad.value.param == "embedder_backend"
    with pytest.raises(ConfigurationError, match="no sentence-transformers model"):
        ModelFolder.read(tmp_path / "nothing")


def test_padded_right_pads_every_input():
    class Enc:
        def __init__(self, n: int) -> None:
            self.ids, self.attention_mask, self.type_ids = [7] * n, [1] * n, [0] * n

    feeds = padded([Enc(3), Enc(1)])
    assert feeds["input_ids"].tolist() == [[7, 7, 7], [7, 0, 0]]
    assert feeds["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert all(v.dtype == np.int64 for v in feeds.values())


@needs_ort
def test_names_and_dim_without_loading(tmp_path):
    fp32, int8 = OnnxEmbedder(), OnnxEmbedder(precision="int8", cache_dir=tmp_path)
    assert isinstance(fp32, Embedder)
    assert (fp32.name, int8.name) == (DEFAULT_MODEL_NAME, f"{DEFAULT_MODEL_NAME}-int8")
    assert fp32.dim == int8.dim == 384 and not fp32._sessions and not int8._sessions
    assert OnnxEmbedder(precision="int8", name="mini").name == "mini"
    assert OnnxEmbedder(copy_model(tmp_path), precision="int8").name == "model-int8"
    assert not list(tmp_path.glob("*-int8-*"))  # nothing was exported


def test_missing_onnxruntime_or_bad_precision_is_a_configuration_error(monkeypatch):
    with pytest.raises(ConfigurationError, match="precision"):
        OnnxEmbedder(precision="fp16")  # type: ignore[arg-type]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigurationError, match="needs onnxruntime"):
        OnnxEmbedder()


@needs_ort
def test_an_int8_embedder_cannot_open_a_registry_of_torch_vectors(tmp_path):
    torch_named = HashingEmbedder(dim=384, name=DEFAULT_MODEL_NAME)
    config = StoreConfig(background=False)
    store = TargetStore.open(tmp_path, torch_named, config=config)
    store.add(ForgetTarget(id="t1", kind="entity", name="Ada Quill"))
    store.close()
    with pytest.raises(ConfigurationError, match="registry holds embeddings made with"):
        TargetStore.open(tmp_path, OnnxEmbedder(precision="int8"), config=config)
    TargetStore.open(tmp_path, OnnxEmbedder(), config=config).close()  # fp32: the same vectors


def test_the_cache_builds_once_atomically_and_keys_on_the_model_files(tmp_path, monkeypatch):
    path = copy_model(tmp_path)
    folder = ModelFolder.read(path)
    built: list[str] = []

    def fake_build(folder, precision, out_dir, *, fp32=None):
        built.append(f"{precision}<-{fp32.parent.name if fp32 else None}")
        (out_dir / "model.onnx").write_bytes(b"onnx")
        return out_dir / "model.onnx"

    monkeypatch.setattr(oe, "build_model", fake_build)
    cache = tmp_path / "cache"
    first = oe.cached_model(folder, "int8", cache, label="mini")
    assert oe.cached_model(folder, "int8", cache, label="mini") == first
    assert first.parent.name.startswith("mini-int8-") and first.read_bytes() == b"onnx"
    fp32_entry = next(cache.glob("mini-fp32-*")).name
    assert built == ["fp32<-None", f"int8<-{fp32_entry}"]  # int8 quantises the cached fp32
    assert not list(cache.glob(".tmp-*"))
    (path / "tokenizer.json").write_text((path / "tokenizer.json").read_text() + " ")
    assert oe.cached_model(folder, "fp32", cache, label="mini").parent.name != fp32_entry


def test_a_failed_build_leaves_no_entry(tmp_path, monkeypatch):
    def failing_build(folder, precision, out_dir, *, fp32=None):
        (out_dir / "model.onnx").write_bytes(b"half")
        raise ConfigurationError("export disagrees")

    monkeypatch.setattr(oe, "build_model", failing_build)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigurationError):
        oe.cached_model(ModelFolder.read(default_model_path()), "fp32", cache, label="m")
    assert list(cache.iterdir()) == []


# -- the real model -----------------------------------------------------------------------------


@pytest.mark.embedder
@pytest.mark.parametrize(("backend", "minimum", "mean"), [("onnx", 0.9999, 0.99999),
                                                           ("onnx-int8", 0.95, 0.985)])  # fmt: skip
def test_agreement_with_torch_on_varied_texts(
    torch_embedder, onnx_embedders, backend, minimum, mean
):
    assert len(VARIED) == 200
    expected = torch_embedder.embed(VARIED)
    got = onnx_embedders[backend].embed(VARIED)
    cos = np.sum(expected * got, axis=1)
    summary = f"min {cos.min():.5f} p1 {np.percentile(cos, 1):.5f} mean {cos.mean():.5f}"
    assert cos.min() > minimum and cos.mean() > mean, summary


@pytest.mark.embedder
@pytest.mark.parametrize(("backend", "tolerance"), [("onnx", 1e-5), ("onnx-int8", 0.0)])
def test_a_text_gets_the_same_vector_alone_and_in_a_bulk_call(onnx_embedders, backend, tolerance):
    emb = onnx_embedders[backend]
    texts = VARIED[:40]
    together = emb.embed(texts)
    alone = np.concatenate([emb.embed([t]) for t in texts])
    assert np.max(np.abs(together - alone)) <= tolerance


@pytest.mark.embedder
def test_a_cached_export_loads_without_torch(onnx_embedders, monkeypatch):
    from tests.indices.conftest import EMBEDDER_CACHE

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(oe, "export_fp32", no_export)
    emb = OnnxEmbedder(precision="int8", cache_dir=EMBEDDER_CACHE)
    text = ["Who was Albert Einstein?"]
    assert np.array_equal(emb.embed(text), onnx_embedders["onnx-int8"].embed(text))


@pytest.mark.embedder
def test_a_disagreeing_export_is_refused(onnx_embedders):
    from tests.indices.conftest import EMBEDDER_CACHE

    model = next(EMBEDDER_CACHE.glob(f"{DEFAULT_MODEL_NAME}-fp32-*/model.onnx"))
    feeds = oe._check_feeds(ModelFolder.read(default_model_path()))
    right = oe._session(model, 1, "basic").run(None, feeds)[0]
    oe._check(model, feeds, right, minimum=0.9999)
    with pytest.raises(ConfigurationError, match="disagrees with torch"):
        oe._check(model, feeds, -right, minimum=0.9999)


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("question", "in_scope"),
    [
        ("Who came up with the theory of relativity?", True),
        ("Which physicist was born in Ulm in 1879?", True),
        ("How do I bake sourdough bread?", False),
        ("What is the capital of Japan?", False),
    ],
)
@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_default_scope_thresholds_hold(tmp_path, onnx_embedders, backend, question, in_scope):
    """The guards' default thresholds (tests/guards/test_scope.py) with the ONNX backends."""
    from lethe.decoders import Message, SamplingParams, Turn
    from lethe.guards.scope import ScopeClassifier
    from tests.guards.conftest import EINSTEIN

    store = TargetStore.open(
        tmp_path, onnx_embedders[backend], config=StoreConfig(background=False)
    )
    store.add(EINSTEIN)
    turn = Turn.chat("r", [Message("user", question)], SamplingParams(max_tokens=8))
    verdict = ScopeClassifier(store).classify(turn)
    assert (verdict.guarded != ()) is in_scope, verdict.verdicts
    store.close()
