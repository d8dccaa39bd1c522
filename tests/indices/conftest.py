"""Fixtures of the indices tests: a hashing embedder, a store in a temp dir, the real embedders.

``real_embedder`` runs every test that takes it once per backend: torch, ONNX Runtime fp32 and
int8 (skipped when onnxruntime is not installed). The ONNX exports are cached across sessions
in ``.lethe-cache/embedders`` (first export ~4 s, +2 s to quantise; then ~0.2 s to load).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from lethe.indices.embedder import Embedder, SentenceTransformerEmbedder
from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from tests.indices.fakes import HashingEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[2]
EMBEDDER_CACHE = Path(
    os.environ.get("LETHE_TEST_EMBEDDER_CACHE", REPO / ".lethe-cache" / "embedders")
)
BACKENDS = ("torch", "onnx", "onnx-int8")
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def store(tmp_path, embedder):
    s = TargetStore.open(tmp_path / "data", embedder, config=StoreConfig(background=False))
    yield s
    s.close()


@pytest.fixture(scope="session")
def torch_embedder() -> SentenceTransformerEmbedder:
    emb = SentenceTransformerEmbedder()
    emb.load()
    return emb


@pytest.fixture(scope="session")
def onnx_embedders() -> dict[str, Embedder]:
    """The ONNX Runtime embedders, loaded once: ``{"onnx": fp32, "onnx-int8": int8}``."""
    if not HAS_ORT:
        pytest.skip("onnxruntime is not installed")
    from lethe.indices.onnx_embedder import OnnxEmbedder

    out: dict[str, Embedder] = {}
    for backend, precision in (("onnx", "fp32"), ("onnx-int8", "int8")):
        emb = OnnxEmbedder(precision=precision, cache_dir=EMBEDDER_CACHE)  # type: ignore[arg-type]
        emb.load()
        out[backend] = emb
    return out


@pytest.fixture(scope="session", params=BACKENDS)
def real_embedder(request) -> Embedder:
    """The real all-MiniLM-L6-v2 through each backend in turn."""
    if request.param == "torch":
        return request.getfixturevalue("torch_embedder")
    return request.getfixturevalue("onnx_embedders")[request.param]
