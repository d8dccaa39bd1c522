from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lethe.indices.semantic import SemanticIndex
from lethe.indices.snapshot import IndexSnapshot, Removed, TargetEntry
from lethe.indices.targets import ForgetTarget

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def entry(i: int, version: int = 1, **fields) -> TargetEntry:
    t = ForgetTarget(**{"id": f"t{i}", "kind": "entity", "name": f"Name{i} Person", **fields})
    return TargetEntry.of(t, version)


@pytest.fixture
def semantic() -> SemanticIndex:
    return SemanticIndex(4)


def test_changes_and_lookups(semantic):
    s0 = IndexSnapshot.empty(semantic)
    s1 = s0.with_changes(1, [entry(1), entry(2)], [])
    s2 = s1.with_changes(2, [entry(1, 2, name="Renamed Person")], ["t2"])
    assert (len(s0), len(s1), len(s2)) == (0, 2, 1)
    assert s1.get("t1").name == "Name1 Person" and s2.get("t1").name == "Renamed Person"
    assert "t2" in s1 and "t2" not in s2 and s2.get("t2") is None
    assert sorted(s2.ids()) == ["t1"]
    assert [h.pattern for h in s2.lexical_hits("Name1 Person or Renamed Person")] == [
        "Renamed Person"
    ]
    assert s1.lexical_hits("Name1 Person")[0].target_id == "t1"  # older snapshot unchanged


def test_merge_then_rebase_keeps_newer_changes(semantic):
    s = IndexSnapshot.empty(semantic).with_changes(1, [entry(i) for i in range(5)], [])
    s = s.with_changes(2, [], ["t0"])
    base, expired = s.merged(NOW)
    assert expired == [] and base.version == 2 and sorted(base.entries) == ["t1", "t2", "t3", "t4"]
    later = s.with_changes(3, [entry(9, 3)], ["t1"])
    rebased = later.rebased(base)
    assert dict(rebased.delta) == {"t9": later.delta["t9"], "t1": Removed(3)}
    assert len(rebased) == len(later) == 4 and sorted(rebased.ids()) == sorted(later.ids())
    assert rebased.version == 3 and rebased.lexical.match("Name9 Person")


def test_merge_drops_expired(semantic):
    gone = entry(1, expires_at=NOW - timedelta(seconds=1))
    s = IndexSnapshot.empty(semantic).with_changes(1, [gone, entry(2)], [])
    assert s.next_expiry == NOW - timedelta(seconds=1)
    base, expired = s.merged(NOW)
    assert expired == ["t1"] and list(base.entries) == ["t2"] and base.next_expiry is None


def test_scope_filters_tenant_and_expiry_and_orders_lexical_first(semantic):
    later = NOW + timedelta(days=1)
    entries = [
        entry(1),
        entry(2, scope="acme"),
        entry(3, scope="other"),
        entry(4, expires_at=NOW - timedelta(seconds=1)),
        entry(5, expires_at=later),
    ]
    s = IndexSnapshot.empty(semantic).with_changes(7, entries, [])
    q = np.array([1.0, 0, 0, 0], dtype=np.float32)
    for i in range(1, 6):
        v = np.array([[1.0 - 0.1 * i, 0.3, 0, 0]], dtype=np.float32)
        semantic.put(f"t{i}", v / np.linalg.norm(v), "n")
    semantic.put("t99", q[None, :], "n")  # vectors of a target this snapshot does not know
    text = "Name5 Person and Name3 Person"
    result = s.scope(text, q[None, :], k=10, tenant="acme", now=NOW)
    assert result.version == 7
    assert result.target_ids == ("t5", "t1", "t2")
    hit = result.get("t5")
    assert [text[h.start : h.end] for h in hit.lexical] == ["Name5 Person"]
    assert hit.semantic_score is not None and hit.chunk_no == 0 and hit.chunk_source == "name"
    assert result.get("t3") is None and result.get("t99") is None


def test_scope_gives_lexical_targets_their_semantic_score(semantic):
    s = IndexSnapshot.empty(semantic).with_changes(1, [entry(i) for i in range(40)], [])
    for i in range(40):
        v = np.array([[1.0, i / 10, 0, 0]], dtype=np.float32)
        semantic.put(f"t{i}", v / np.linalg.norm(v), "n")
    q = np.array([[1.0, 0, 0, 0]], dtype=np.float32)
    result = s.scope("about Name39 Person", q, k=1)
    assert result.target_ids[0] == "t39" and result.get("t39").semantic_score is not None
    assert len(result.hits) == 2  # t39 (lexical) + the single semantic top-1


def test_max_pattern_length_covers_a_spelled_out_name(semantic):
    s = IndexSnapshot.empty(semantic).with_changes(1, [entry(1)], [])
    assert s.max_pattern_length >= len("N-a-m-e-1-P-e-r-s-o-n")


def test_chunks_of_a_target(semantic):
    s = IndexSnapshot.empty(semantic).with_changes(1, [entry(1, content=["Born in Ulm."])], [])
    assert [c.text for c in s.chunks("t1")] == ["Name1 Person", "Born in Ulm."]
    assert s.chunks("nope") == ()


def test_entry_from_a_record_parses_its_target_lazily(semantic):
    from lethe.indices.lexical import target_patterns
    from lethe.indices.registry import TargetRecord

    t = ForgetTarget(id="t1", kind="entity", name="Name1 Person", aliases=["NP"], scope="acme")
    patterns = target_patterns("t1", t.name, t.aliases, ())
    record = TargetRecord("t1", 3, "acme", None, patterns, t.model_dump_json(), None)
    e = TargetEntry.from_record(record)
    assert e._target is None and e.applies_to("acme", NOW) and not e.applies_to(None, NOW)
    assert [p.key for p in e.patterns] == ["name1person", "np"]
    assert e.target == t and e._target is not None


def test_entry_needs_a_target_or_a_body():
    with pytest.raises(ValueError):
        TargetEntry("t1", 1, "global", None, ())
