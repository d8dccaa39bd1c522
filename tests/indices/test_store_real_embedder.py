"""The store end to end with the real embedder and real FAISS: paraphrases find their target."""

from __future__ import annotations

import pytest

from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from lethe.indices.targets import ForgetTarget

TARGETS = [
    ForgetTarget(
        id="einstein",
        kind="entity",
        name="Albert Einstein",
        aliases=["Einstein"],
        content=[
            {"question": "Where was Albert Einstein born?", "answer": "Ulm"},
            "Albert Einstein developed the theory of relativity and won the Nobel Prize in 1921.",
        ],
    ),
    ForgetTarget(
        id="sourdough",
        kind="topic",
        name="Sourdough baking",
        content=["How to feed a sourdough starter and bake a loaf of bread at home."],
    ),
    ForgetTarget(
        id="acme-memo",
        kind="document",
        name="Project Nightjar memo",
        scope="acme",
        content=["Project Nightjar is Acme's secret plan to acquire a rival drone maker."],
    ),
]


@pytest.fixture(scope="module")
def real_store(tmp_path_factory, real_embedder):
    store = TargetStore.open(
        tmp_path_factory.mktemp("data"), real_embedder, config=StoreConfig(background=False)
    )
    store.add_many(TARGETS)
    yield store
    store.close()


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("text", "tenant", "top"),
    [
        ("Which physicist came up with relativity?", None, "einstein"),
        ("In what town was the father of relativity born?", None, "einstein"),
        ("how do I keep my bread starter alive", None, "sourdough"),
        ("Is Acme planning to buy a drone company?", "acme", "acme-memo"),
    ],
)
def test_paraphrase_finds_its_target(real_store, text, tenant, top):
    result = real_store.scope(text, k=3, tenant=tenant)
    assert result.hits[0].target_id == top
    assert result.hits[0].semantic_score > 0.3


@pytest.mark.embedder
def test_other_tenant_does_not_see_the_memo(real_store):
    result = real_store.scope("Is Acme planning to buy a drone company?", k=3, tenant="globex")
    assert "acme-memo" not in result.target_ids


@pytest.mark.embedder
def test_lexical_hit_carries_its_span_and_a_semantic_score(real_store):
    text = "Tell me about E-i-n-s-t-e-i-n please."
    hit = real_store.scope(text, k=1).get("einstein")
    assert hit is not None and hit.semantic_score is not None
    assert [text[h.start : h.end] for h in hit.lexical] == ["E-i-n-s-t-e-i-n"]


@pytest.mark.embedder
def test_unrelated_text_scores_low(real_store):
    result = real_store.scope("What is the boiling point of water at sea level?", k=3)
    assert all(h.semantic_score < 0.3 for h in result.hits) and not any(
        h.lexical for h in result.hits
    )
