"""Fixtures of the guards tests: a real TargetStore (SQLite, FAISS, Aho-Corasick) in a temp dir,
with the hashing embedder for speed; the real embedder where a test is about meaning."""

from __future__ import annotations

import pytest

from lethe.indices import ForgetTarget, StoreConfig, TargetStore
from tests.indices.fakes import HashingEmbedder

EINSTEIN = ForgetTarget(
    id="einstein",
    kind="entity",
    name="Albert Einstein",
    aliases=["Einstein"],
    content=[
        {"question": "Who developed the theory of relativity?", "answer": "Albert Einstein"},
        "Albert Einstein was a physicist born in Ulm who developed the theory of relativity.",
    ],
    retain=[{"question": "Who formulated the laws of motion?", "answer": "Isaac Newton"}],
)
ADA = ForgetTarget(
    id="ada",
    kind="entity",
    name="Ada Quill",
    forbidden=["555-0142", "Tartu"],
    content=[{"question": "What is Ada Quill's phone number?", "answer": "555-0142"}],
    policy={"action": "refuse"},
)
TENANT_ONLY = ForgetTarget(id="acme-secret", kind="fact", name="Project Nightjar", scope="acme")


@pytest.fixture
def store(tmp_path):
    s = TargetStore.open(tmp_path / "data", HashingEmbedder(), config=StoreConfig(background=False))
    for t in (EINSTEIN, ADA, TENANT_ONLY):
        s.add(t)
    yield s
    s.close()


@pytest.fixture
def empty_store(tmp_path):
    s = TargetStore.open(
        tmp_path / "empty", HashingEmbedder(), config=StoreConfig(background=False)
    )
    yield s
    s.close()
