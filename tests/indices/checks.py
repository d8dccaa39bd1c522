"""Consistency checks shared by the store tests and the crash test."""

from __future__ import annotations

from lethe.indices.encoding import chunks_of
from lethe.indices.lexical import target_patterns
from lethe.indices.sqlite_registry import SqliteRegistry
from lethe.indices.store import TargetStore


def registry_state(registry: SqliteRegistry) -> tuple[int, dict[str, int]]:
    """``(version, {target_id: number of stored vector rows})``, asserting every target has all
    its embeddings and the version is the change log's last."""
    with registry.dump() as dump:
        rows = {}
        for record in dump:
            target = record.target()
            assert record.target_id == target.id
            expected = target_patterns(target.id, target.name, target.aliases, target.forbidden)
            assert record.patterns == expected
            assert record.vectors is not None, target.id
            assert len(record.vectors.matrix) == len(chunks_of(target)), target.id
            assert len(record.vectors.sources) == len(record.vectors.matrix)
            rows[target.id] = len(record.vectors.matrix)
        version = dump.version
    changes = registry.changes(0)
    assert version == (changes[-1].version if changes else 0)
    return version, rows


def assert_store_matches_registry(store: TargetStore, registry: SqliteRegistry) -> None:
    """The store's snapshot and semantic index hold exactly the registry's targets."""
    version, rows = registry_state(registry)
    snap = store.snapshot
    assert snap.version == version
    assert sorted(snap.ids()) == sorted(rows)
    assert len(snap) == len(rows)
    stats = snap.semantic.stats()
    assert stats.targets == len(rows)
    assert stats.vectors == sum(rows.values())
