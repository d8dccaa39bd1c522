"""Fixtures of the indices tests: a hashing embedder, a store in a temp dir, the real embedder."""

from __future__ import annotations

import os

import pytest

from lethe.indices.embedder import SentenceTransformerEmbedder
from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from tests.indices.fakes import HashingEmbedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def store(tmp_path, embedder):
    s = TargetStore.open(tmp_path / "data", embedder, config=StoreConfig(background=False))
    yield s
    s.close()


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    emb = SentenceTransformerEmbedder()
    emb.load()
    return emb
