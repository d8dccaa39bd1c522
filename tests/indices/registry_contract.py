"""The behaviour every :class:`~lethe.indices.registry.Registry` backend must have, as tests.

A backend's test module subclasses :class:`RegistryContract` and provides one fixture,
``open_registry``: a callable that opens a new handle on the *same* storage (a second process,
in effect) and closes every handle it opened at teardown::

    class TestSqliteRegistry(RegistryContract):
        @pytest.fixture
        def open_registry(self, tmp_path): ...
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from lethe.errors import ConfigurationError, Conflict, NotFound
from lethe.indices.registry import Delete, Put, TargetVectors
from lethe.indices.targets import ForgetTarget


def target(i: int | str, **fields) -> ForgetTarget:
    return ForgetTarget(**{"id": f"t{i}", "kind": "entity", "name": f"Person {i}", **fields})


def vectors(rows: int = 2, seed: int = 0) -> TargetVectors:
    m = np.random.default_rng(seed).standard_normal((rows, 4)).astype(np.float32)
    return TargetVectors("n" + "c" * (rows - 1), m)


def run_threads(fn, count: int) -> None:
    """Run ``fn(i)`` for ``i in range(count)`` in threads; re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            fn(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


class RegistryContract:
    """The shared tests; subclasses provide the ``open_registry`` fixture."""

    @pytest.fixture
    def reg(self, open_registry):
        return open_registry()

    def test_insert_bumps_version_once_per_transaction(self, reg):
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

    def test_existing_ids_are_skipped_not_overwritten(self, reg):
        reg.apply([Put(target(1), vectors())])
        applied = reg.apply([Put(target(1, name="Other"), vectors()), Put(target(2), vectors())])
        assert applied.skipped == ("t1",) and applied.version == 2
        assert reg.get("t1").target.name == "Person 1"
        nothing = reg.apply([Put(target(1), vectors())])
        assert (nothing.version, nothing.previous, nothing.skipped) == (2, 2, ("t1",))

    def test_ops_on_one_id_in_one_transaction_apply_in_order(self, reg):
        applied = reg.apply(
            [Put(target(1), vectors()), Put(target(1), vectors()), Delete("t1"),
             Put(target(1, name="Again"), vectors(3))]
        )  # fmt: skip
        assert applied.skipped == ("t1",) and applied.deleted == ("t1",)
        assert [c.op for c in reg.changes(0)] == ["add", "delete", "add"]
        stored = reg.get("t1", vectors=True)
        assert stored.target.name == "Again" and stored.vectors.matrix.shape == (3, 4)

    def test_replace_keeps_created_at_and_optionally_vectors(self, reg):
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
    def test_failed_op_rolls_back_the_whole_transaction(self, reg, op, error):
        reg.apply([Put(target(1), vectors())])
        with pytest.raises(error):
            reg.apply([Put(target(2), vectors()), op])
        assert reg.version() == 1 and reg.get("t2") is None and len(reg.changes(0)) == 1

    def test_new_target_needs_vectors(self, reg):
        with pytest.raises(ValueError):
            reg.apply([Put(target(1), None)])
        assert reg.version() == 0

    def test_delete_removes_target_and_embeddings(self, reg):
        reg.apply([Put(target(1), vectors())])
        applied = reg.apply([Delete("t1", expected_version=1)])
        assert applied.deleted == ("t1",) and reg.get("t1") is None
        with reg.dump() as dump:
            assert list(dump) == [] and dump.version == 2

    def test_changes_since_gives_current_state_of_changed_targets(self, reg):
        reg.apply([Put(target(i), vectors()) for i in range(3)])
        reg.apply([Put(target(1, name="New"), None, replace=True), Delete("t2")])
        cs = reg.changes_since(1)
        assert cs.version == 2
        assert cs.targets["t1"].target.name == "New" and cs.targets["t1"].vectors is not None
        assert cs.targets["t2"] is None and "t0" not in cs.targets
        assert reg.changes_since(2).targets == {}
        assert [c.target_id for c in reg.changes(0, limit=2)] == ["t0", "t1"]
        assert all(c.at.tzinfo is not None for c in reg.changes(0))

    def test_list_pages_and_filters(self, reg):
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

    def test_ids_are_listed_in_byte_order(self, reg):
        ids = ["b", "B", "a-1", "a.1", "a1", "A1", "a:1", "a@1", "z", "a"]
        reg.apply([Put(ForgetTarget(id=i, kind="entity", name=f"N {i}"), vectors()) for i in ids])
        page, seen = reg.list(limit=3), []
        seen += [s.target.id for s in page.items]
        while page.next_cursor:
            page = reg.list(limit=3, cursor=page.next_cursor)
            seen += [s.target.id for s in page.items]
        assert seen == sorted(ids, key=str.encode)
        with reg.dump() as dump:
            assert [r.target_id for r in dump] == seen

    def test_dump_records_carry_what_start_up_needs(self, reg):
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
        assert np.array_equal(record.vectors.matrix, vectors(3).matrix)
        assert record.target().model_copy(update={"created_at": None}) == t

    def test_dump_is_one_consistent_version(self, reg):
        reg.apply([Put(target(i), vectors()) for i in range(10)])
        with reg.dump() as dump:
            reg.apply([Put(target(i), vectors()) for i in range(10, 20)])  # after the dump began
            ids = [r.target_id for r in dump]
            assert dump.version == 1 and len(ids) == 10 == dump.count
        assert reg.version() == 2

    def test_bind_refuses_another_embedder_once_targets_exist(self, reg):
        reg.bind("model-a", 4, "chunker-1")
        reg.bind("model-b", 8, "chunker-1")  # still empty: rebinding is fine
        reg.apply([Put(target(1), vectors())])
        reg.bind("model-b", 8, "chunker-1")
        with pytest.raises(ConfigurationError, match="model-b"):
            reg.bind("model-a", 4, "chunker-1")
        with pytest.raises(ConfigurationError):
            reg.bind("model-b", 8, "chunker-2")

    def test_reopen_keeps_everything(self, open_registry):
        reg = open_registry()
        reg.apply([Put(target(1), vectors())])
        reg.bind("model-a", 4, "chunker-1")
        reg.close()
        again = open_registry()
        assert again.version() == 1
        assert again.get("t1", vectors=True).vectors.matrix.shape == (2, 4)
        with pytest.raises(ConfigurationError):
            again.bind("model-b", 4, "chunker-1")

    def test_concurrent_writers_never_share_a_version(self, reg):
        versions: list[int] = []
        lock = threading.Lock()

        def writer(w: int):
            for i in range(20):
                ops = [Put(target(f"{w}-{i}-{k}"), vectors()) for k in range(2)]
                v = reg.apply(ops).version
                with lock:
                    versions.append(v)

        run_threads(writer, 4)
        assert sorted(versions) == list(range(1, 81)) and reg.version() == 80
        per_version = Counter(c.version for c in reg.changes(0))
        assert per_version == dict.fromkeys(range(1, 81), 2)  # one version per transaction

    def test_writers_on_separate_handles_never_lose_an_update(self, open_registry):
        handles = [open_registry() for _ in range(3)]
        handles[0].apply([Put(target(1), vectors())])

        def add_alias(w: int):  # read-modify-write with an If-Match, retried on Conflict
            reg = handles[w % len(handles)]
            for i in range(5):
                while True:
                    current = reg.get("t1")
                    aliases = (*current.target.aliases, f"alias {w} {i}")
                    new = current.target.model_copy(update={"aliases": aliases})
                    try:
                        reg.apply([Put(new, None, replace=True, expected_version=current.version)])
                        break
                    except Conflict:
                        continue

        run_threads(add_alias, 6)
        final = handles[1].get("t1")
        assert len(final.target.aliases) == 30 and final.version == 31
        assert [c.version for c in handles[2].changes(0)] == list(range(1, 32))

    def test_two_handles_on_one_store_serialise(self, open_registry):
        a, b = open_registry(), open_registry()
        a.apply([Put(target(1), vectors())])
        b.apply([Put(target(2), vectors())])
        assert a.version() == b.version() == 2
        assert sorted(a.changes_since(0).targets) == ["t1", "t2"]
