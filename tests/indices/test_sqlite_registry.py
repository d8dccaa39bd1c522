from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lethe.errors import ConfigurationError, Conflict, NotFound
from lethe.indices.registry import Delete, Put, TargetVectors
from lethe.indices.sqlite_registry import SqliteRegistry
from lethe.indices.targets import ForgetTarget


def target(i: int | str, **fields) -> ForgetTarget:
    return ForgetTarget(**{"id": f"t{i}", "kind": "entity", "name": f"Person {i}", **fields})


def vectors(rows: int = 2, seed: int = 0) -> TargetVectors:
    m = np.random.default_rng(seed).standard_normal((rows, 4)).astype(np.float32)
    return TargetVectors("n" + "c" * (rows - 1), m)


@pytest.fixture
def reg(tmp_path):
    r = SqliteRegistry.in_dir(tmp_path)
    yield r
    r.close()


def test_insert_bumps_version_once_per_transaction(reg):
    applied = reg.apply([Put(target(i), vectors()) for i in range(3)])
    assert (applied.previous, applied.version) == (0, 1)
    assert [s.target.id for s in applied.written] == ["t0", "t1", "t2"]
    assert all(s.target.created_at is not None for s in applied.written)
    assert reg.version() == 1
    assert [(c.version, c.op, c.target_id) for c in reg.changes(0)] == [
        (1, "add", "t0"),
        (1, "add", "t1"),
        (1, "add", "t2"),
    ]


def test_existing_ids_are_skipped_not_overwritten(reg):
    reg.apply([Put(target(1), vectors())])
    applied = reg.apply([Put(target(1, name="Other"), vectors()), Put(target(2), vectors())])
    assert applied.skipped == ("t1",) and applied.version == 2
    assert reg.get("t1").target.name == "Person 1"
    nothing = reg.apply([Put(target(1), vectors())])
    assert (nothing.version, nothing.previous, nothing.skipped) == (2, 2, ("t1",))


def test_replace_keeps_created_at_and_optionally_vectors(reg):
    first = reg.apply([Put(target(1), vectors(2))]).written[0]
    applied = reg.apply([Put(target(1, name="Renamed"), None, replace=True)])
    stored = reg.get("t1", vectors=True)
    assert stored.target.name == "Renamed" and stored.version == applied.version == 2
    assert stored.target.created_at == first.target.created_at
    assert np.array_equal(stored.vectors.matrix, vectors(2).matrix)
    reg.apply([Put(target(1), vectors(3, seed=1), replace=True)])
    assert reg.get("t1", vectors=True).vectors.sources == "ncc"
    assert [c.op for c in reg.changes(0)] == ["add", "patch", "patch"]


@pytest.mark.parametrize(
    ("op", "error"),
    [
        (Put(target(9), vectors(), replace=True), NotFound),
        (Put(target(1), vectors(), replace=True, expected_version=99), Conflict),
        (Delete("t9"), NotFound),
        (Delete("t1", expected_version=99), Conflict),
    ],
)
def test_failed_op_rolls_back_the_whole_transaction(reg, op, error):
    reg.apply([Put(target(1), vectors())])
    with pytest.raises(error):
        reg.apply([Put(target(2), vectors()), op])
    assert reg.version() == 1 and reg.get("t2") is None and len(reg.changes(0)) == 1


def test_new_target_needs_vectors(reg):
    with pytest.raises(ValueError):
        reg.apply([Put(target(1), None)])
    assert reg.version() == 0


def test_delete_removes_target_and_embeddings(reg):
    reg.apply([Put(target(1), vectors())])
    applied = reg.apply([Delete("t1", expected_version=1)])
    assert applied.deleted == ("t1",) and reg.get("t1") is None
    with reg.dump() as dump:
        assert list(dump) == [] and dump.version == 2


def test_changes_since_gives_current_state_of_changed_targets(reg):
    reg.apply([Put(target(i), vectors()) for i in range(3)])
    reg.apply([Put(target(1, name="New"), None, replace=True), Delete("t2")])
    cs = reg.changes_since(1)
    assert cs.version == 2
    assert cs.targets["t1"].target.name == "New" and cs.targets["t1"].vectors is not None
    assert cs.targets["t2"] is None and "t0" not in cs.targets
    assert reg.changes_since(2).targets == {}
    assert [c.target_id for c in reg.changes(0, limit=2)] == ["t0", "t1"]


def test_list_pages_and_filters(reg):
    soon = datetime.now(UTC) + timedelta(seconds=30)
    targets = [target(i, kind="fact" if i % 2 else "entity") for i in range(5)]
    targets.append(target("x", scope="acme", expires_at=soon))
    reg.apply([Put(t, vectors()) for t in targets])
    page = reg.list(limit=2)
    seen = [s.target.id for s in page.items]
    while page.next_cursor:
        page = reg.list(limit=2, cursor=page.next_cursor)
        seen += [s.target.id for s in page.items]
    assert seen == ["t0", "t1", "t2", "t3", "t4", "tx"] and page.version == 1
    assert [s.target.id for s in reg.list(kind="fact").items] == ["t1", "t3"]
    assert [s.target.id for s in reg.list(scope="acme").items] == ["tx"]
    later = soon + timedelta(seconds=1)
    assert "tx" not in [s.target.id for s in reg.list(active_at=later).items]
    assert "tx" in [s.target.id for s in reg.list(active_at=datetime.now(UTC)).items]


def test_dump_records_carry_what_start_up_needs(reg):
    expires = datetime(2031, 5, 1, tzinfo=UTC)
    t = target(1, aliases=["P1"], forbidden=["Ulm"], scope="acme", expires_at=expires)
    reg.apply([Put(t, vectors(3))])
    with reg.dump() as dump:
        (record,) = list(dump)
    assert (record.target_id, record.version, record.scope, record.expires_at) == (
        "t1",
        1,
        "acme",
        expires,
    )
    assert [(p.kind, p.text, p.key) for p in record.patterns] == [
        ("name", "Person 1", "person1"),
        ("alias", "P1", "p1"),
        ("forbidden", "Ulm", "ulm"),
    ]
    assert record.vectors.matrix.shape == (3, 4)
    assert record.target().model_copy(update={"created_at": None}) == t


def test_dump_is_one_consistent_version(reg):
    reg.apply([Put(target(i), vectors()) for i in range(10)])
    with reg.dump() as dump:
        reg.apply([Put(target(i), vectors()) for i in range(10, 20)])  # after the dump began
        ids = [r.target_id for r in dump]
        assert dump.version == 1 and len(ids) == 10 == dump.count
    assert reg.version() == 2


def test_bind_refuses_another_embedder_once_targets_exist(reg):
    reg.bind("model-a", 4, "chunker-1")
    reg.bind("model-b", 8, "chunker-1")  # still empty: rebinding is fine
    reg.apply([Put(target(1), vectors())])
    reg.bind("model-b", 8, "chunker-1")
    with pytest.raises(ConfigurationError, match="model-b"):
        reg.bind("model-a", 4, "chunker-1")
    with pytest.raises(ConfigurationError):
        reg.bind("model-b", 8, "chunker-2")


def test_patterns_are_recompiled_when_the_normalizer_changes(tmp_path):
    reg = SqliteRegistry.in_dir(tmp_path)
    reg.apply([Put(target(1, aliases=["P-One"]), vectors())])
    with reg._db.write() as conn:
        conn.execute("UPDATE targets SET patterns = '[]'")
        conn.execute("UPDATE meta SET value = 'old-rules' WHERE key = 'normalizer'")
    reg.close()
    again = SqliteRegistry.in_dir(tmp_path)
    with again.dump() as dump:
        (record,) = list(dump)
    assert [p.key for p in record.patterns] == ["person1", "pone"] and again.version() == 1
    again.close()


def test_reopen_keeps_everything(tmp_path):
    reg = SqliteRegistry.in_dir(tmp_path)
    reg.apply([Put(target(1), vectors())])
    reg.close()
    again = SqliteRegistry.in_dir(tmp_path)
    assert again.version() == 1 and again.get("t1", vectors=True).vectors.matrix.shape == (2, 4)
    again.close()


def test_concurrent_writers_never_share_a_version(reg):
    versions: list[int] = []
    lock = threading.Lock()

    def writer(w: int):
        for i in range(20):
            v = reg.apply([Put(target(f"{w}-{i}"), vectors())]).version
            with lock:
                versions.append(v)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == list(range(1, 81)) and reg.version() == 80


def test_two_connections_to_one_file_serialise(tmp_path):
    a, b = SqliteRegistry.in_dir(tmp_path), SqliteRegistry.in_dir(tmp_path)
    a.apply([Put(target(1), vectors())])
    b.apply([Put(target(2), vectors())])
    assert a.version() == b.version() == 2
    assert sorted(a.changes_since(0).targets) == ["t1", "t2"]
    a.close()
    b.close()
