"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Every gateway a test starts (in-process or as `lethe serve`) shares one ONNX export of the
# embedder instead of exporting it again into each temporary data dir (~4 s each).
os.environ.setdefault(
    "LETHE_EMBEDDER_CACHE_DIR",
    str(Path(__file__).resolve().parents[1] / ".lethe-cache" / "embedders"),
)

REPO = Path(__file__).resolve().parent.parent
# Dequantised SmolLM2 weights, cached across test sessions (first load ~25 s, then ~2 s).
MODEL_CACHE = Path(os.environ.get("LETHE_TEST_MODEL_CACHE", REPO / ".lethe-cache" / "models"))


@pytest.fixture(scope="session")
def smollm2():
    """The embedded SmolLM2-135M-Instruct as a ``LoadedModel`` (real weights, real tokenizer)."""
    from lethe.decoders.hf.config import HFEngineConfig
    from lethe.decoders.hf.loader import load_model

    return load_model(HFEngineConfig(cache_dir=MODEL_CACHE))
