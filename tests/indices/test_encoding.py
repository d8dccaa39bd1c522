from __future__ import annotations

import numpy as np

from lethe.indices.encoding import chunks_of, encode_targets, reencode
from lethe.indices.registry import StoredTarget
from lethe.indices.targets import ForgetTarget
from tests.indices.fakes import HashingEmbedder


def make(**fields) -> ForgetTarget:
    return ForgetTarget(**{"id": "t1", "kind": "entity", "name": "Ada Quill", **fields})


def test_encode_targets_batches_one_call():
    emb = HashingEmbedder()
    long_passage = " ".join(f"w{i}" for i in range(100))
    targets = [make(aliases=["AQ"]), make(id="t2", content=[long_passage, "Chemist."])]
    vecs = encode_targets(emb, targets)
    assert emb.calls == 1 and emb.texts == 4
    assert [v.sources for v in vecs] == ["n", "ncc"]
    assert np.allclose(np.linalg.norm(vecs[1].matrix, axis=1), 1.0)


def test_reencode_embeds_only_new_texts():
    emb = HashingEmbedder()
    long_passage = " ".join(f"w{i}" for i in range(100))
    old = make(content=[long_passage, "Chemist."])
    (vecs,) = encode_targets(emb, [old])
    current = StoredTarget(old, 1, vecs)
    emb.calls = emb.texts = 0

    assert reencode(emb, current, old.model_copy(update={"reason": "x"})) is None
    assert emb.calls == 0

    new = make(content=[long_passage, "Physicist."])
    got = reencode(emb, current, new)
    assert emb.texts == 1
    assert np.allclose(got.matrix[:2], vecs.matrix[:2])
    assert np.allclose(got.matrix[2], emb.embed(["Physicist."])[0])
    assert got.sources == "ncc" and len(got.matrix) == len(chunks_of(new))


def test_big_batches_are_embedded_in_slices():
    emb = HashingEmbedder()
    targets = [make(id=f"t{i}", content=[f"Fact number {i}."]) for i in range(40)]
    vecs = encode_targets(emb, targets)
    assert emb.texts == 80 and emb.calls == 3  # 80 texts, 32 per call
    assert np.allclose(vecs[39].matrix, emb.embed([c.text for c in chunks_of(targets[39])]))
