"""The scope classifier over a real store (SQLite, FAISS, Aho-Corasick)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lethe.decoders import Message, SamplingParams, Turn
from lethe.guards.scope import ScopeClassifier, ScopeConfig

PARAMS = SamplingParams(max_tokens=8)


def chat(*messages, tenant=None):
    return Turn.chat("r", [Message(role, text) for role, text in messages], PARAMS, tenant=tenant)


@pytest.mark.parametrize(
    ("messages", "tenant", "expected"),
    [
        ([("user", "Tell me about Einstein.")], None, {"einstein": "guard"}),
        ([("user", "Who is ALBERT E-I-N-S-T-E-I-N?")], None, {"einstein": "guard"}),
        ([("user", "What is Ada Quill's phone?")], None, {"ada": "refuse"}),
        ([("user", "Whose number is 555 0142?")], None, {"ada": "refuse"}),
        ([("user", "What is the boiling point of water?")], None, {}),
        ([("user", "Tell me about Project Nightjar.")], "acme", {"acme-secret": "guard"}),
        ([("user", "Tell me about Project Nightjar.")], "globex", {}),
        (
            [
                ("system", "Documents: Ada Quill lives in Tartu."),
                ("user", "Where does she live?"),
            ],
            None,
            {"ada": "refuse"},
        ),
        (
            [
                ("user", "Let's talk about Einstein."),
                ("assistant", "Sure."),
                ("user", "Where was he born?"),
            ],
            None,
            {"einstein": "guard"},
        ),
    ],
)
def test_decisions(store, messages, tenant, expected):
    verdict = ScopeClassifier(store, ScopeConfig(thresholds={"entity": 2.0, "fact": 2.0})).classify(
        chat(*messages, tenant=tenant)
    )
    assert {v.target.id: v.decision for v in verdict.in_scope} == expected
    assert verdict.version == store.version


def test_semantic_threshold_decides_without_a_lexical_hit(store):
    turn = chat(("user", "who developed the theory of relativity"))
    low = ScopeClassifier(store, ScopeConfig(thresholds={"entity": -1.0})).classify(turn)
    high = ScopeClassifier(store, ScopeConfig(thresholds={"entity": 2.0})).classify(turn)
    assert "einstein" in {v.target.id for v in low.in_scope}
    assert "einstein" not in {v.target.id for v in high.in_scope}
    assert any(v.target.id == "einstein" and v.decision == "pass" for v in high.verdicts)


def test_an_empty_registry_costs_no_embedding(empty_store):
    verdict = ScopeClassifier(empty_store).classify(chat(("user", "Hello there")))
    assert verdict.in_scope == () and empty_store.embedder.calls == 0


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
def test_default_thresholds_with_the_real_embedder(tmp_path, question, in_scope):
    from lethe.indices import SentenceTransformerEmbedder, StoreConfig, TargetStore
    from tests.guards.conftest import EINSTEIN

    store = TargetStore.open(
        tmp_path / "d", SentenceTransformerEmbedder(), config=StoreConfig(background=False)
    )
    store.add(EINSTEIN)
    verdict = ScopeClassifier(store).classify(chat(("user", question)))
    assert (verdict.guarded != ()) is in_scope, verdict.verdicts
    store.close()


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("question", "retain", "decision"),
    [
        ("What is the capital of Canada?", True, "pass"),  # nearer to the retain example
        ("What is the capital of Canada?", False, "guard"),  # near enough without one
        ("What is the capital of Australia?", True, "guard"),
        ("Tell me about Canberra.", True, "guard"),  # a mention is never overruled
    ],
)
def test_a_request_nearer_to_a_retain_example_stays_out_of_scope(
    tmp_path, question, retain, decision
):
    from lethe.indices import ForgetTarget, OnnxEmbedder, StoreConfig, TargetStore

    embedder = OnnxEmbedder(cache_dir=Path(os.environ["LETHE_EMBEDDER_CACHE_DIR"]))
    store = TargetStore.open(tmp_path / "d", embedder, config=StoreConfig(background=False))
    canberra = ForgetTarget(
        id="canberra",
        kind="entity",
        name="Canberra",
        content=[{"question": "What is the capital of Australia?", "answer": "Canberra"}],
        retain=[{"question": "What is the capital of Canada?", "answer": "Ottawa"}]
        if retain
        else [],
    )
    store.add(canberra)
    [verdict] = ScopeClassifier(store).classify(chat(("user", question))).verdicts
    assert verdict.decision == decision, verdict
    assert (verdict.retain is not None) == (retain and not verdict.lexical)
    store.close()
