from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from lethe.errors import ConfigurationError, Conflict, InvalidRequest, NotFound
from lethe.indices.patch import TargetPatch
from lethe.indices.sqlite_registry import SqliteRegistry
from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from lethe.indices.targets import ForgetTarget
from tests.indices.checks import assert_store_matches_registry
from tests.indices.fakes import HashingEmbedder


def person(i: int | str, **fields) -> ForgetTarget:
    return ForgetTarget(
        **{
            "id": f"t{i}",
            "kind": "entity",
            "name": f"Zorblat{i} Quenwick",
            "content": [{"question": f"Where does Zorblat{i} live?", "answer": f"Town{i}"}],
            **fields,
        }
    )


def check(store: TargetStore, data_dir) -> None:
    registry = SqliteRegistry.in_dir(data_dir)
    try:
        assert_store_matches_registry(store, registry)
    finally:
        registry.close()


def test_add_is_searchable_at_once(store, tmp_path):
    assert store.add(person(1, aliases=["ZQ1"])) == 1
    result = store.scope("tell me about zorblat1 quenwick")
    assert result.version == 1 and result.target_ids[0] == "t1"
    assert result.hits[0].lexical[0].kind == "name"
    semantic_only = store.scope("Where does Zorblat1 live")
    assert semantic_only.get("t1").semantic_score > 0.5
    stored = store.get("t1")
    assert stored.version == 1 and stored.target.created_at is not None
    check(store, tmp_path / "data")


def test_add_refuses_duplicates_and_expired(store):
    store.add(person(1))
    with pytest.raises(Conflict):
        store.add(person(1))
    with pytest.raises(InvalidRequest) as info:
        store.add(person(2, expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert info.value.param == "expires_at"
    assert store.version == 1


def test_add_many_batches_and_reports_per_item(store, tmp_path):
    store.add(person(3))
    targets = [person(i) for i in range(12)]
    targets.insert(5, person(7))  # repeated within the import
    targets.append(person("old", expires_at=datetime.now(UTC) - timedelta(days=1)))
    result = store.add_many(targets, batch_size=5)
    assert result.version == 1 + 3  # three batches committed
    assert sorted(result.added) == sorted(f"t{i}" for i in range(12) if i != 3)
    assert sorted((e.index, e.target_id) for e in result.errors) == [
        (3, "t3"),
        (8, "t7"),
        (13, "told"),
    ]
    assert all(e.message for e in result.errors)
    check(store, tmp_path / "data")


def test_patch_updates_indices_and_reuses_embeddings(store, embedder, tmp_path):
    store.add(person(1))
    before = embedder.texts
    stored = store.patch("t1", TargetPatch(policy={"action": "refuse"}))
    assert embedder.texts == before  # nothing to embed for a policy change
    assert stored.target.policy.action == "refuse" and stored.version == 2
    assert store.snapshot.get("t1").policy.action == "refuse"

    store.patch("t1", TargetPatch(name="Vextrin Holloway"), expected_version=2)
    assert embedder.texts == before + 1  # only the new name
    assert store.scope("Vextrin Holloway").target_ids == ("t1",)
    assert not store.snapshot.lexical_hits("Zorblat1 Quenwick")
    check(store, tmp_path / "data")


def test_patch_errors(store):
    store.add(person(1))
    with pytest.raises(NotFound):
        store.patch("nope", TargetPatch(name="X Y"))
    with pytest.raises(Conflict):
        store.patch("t1", TargetPatch(name="X Y"), expected_version=99)
    same = store.patch("t1", TargetPatch(name="Zorblat1 Quenwick"))
    assert same.version == 1 and store.version == 1  # a no-op patch writes nothing


def test_delete(store, tmp_path):
    store.add(person(1))
    store.add(person(2))
    assert store.delete("t1", expected_version=1) == 3
    assert store.scope("Zorblat1 Quenwick").get("t1") is None
    with pytest.raises(NotFound):
        store.delete("t1")
    with pytest.raises(NotFound):
        store.get("t1")
    check(store, tmp_path / "data")


def test_list_pages(store):
    store.add_many([person(i) for i in range(7)])
    store.add(person("x", expires_at=datetime.now(UTC) + timedelta(milliseconds=300)))
    pages, cursor = [], None
    while True:
        page = store.list(limit=3, cursor=cursor)
        pages.append([s.target.id for s in page.items])
        if not (cursor := page.next_cursor):
            break
    assert [i for page in pages for i in page] == [*(f"t{i}" for i in range(7)), "tx"]
    assert len(pages) == 3
    time.sleep(0.35)
    assert "tx" not in [s.target.id for s in store.list(include_expired=False).items]
    assert "tx" in [s.target.id for s in store.list().items]


def test_tenant_scope(store):
    store.add(person(1, scope="acme"))
    store.add(person(2))
    text = "Zorblat1 Quenwick and Zorblat2 Quenwick"
    assert set(store.scope(text, tenant="acme").target_ids) == {"t1", "t2"}
    assert set(store.scope(text, tenant="other").target_ids) == {"t2"}
    assert set(store.scope(text).target_ids) == {"t2"}


def test_expiry_stops_applying_and_is_dropped(store):
    store.add(person(1, expires_at=datetime.now(UTC) + timedelta(milliseconds=300)))
    store.add(person(2))
    assert "t1" in store.scope("Zorblat1 Quenwick").target_ids
    time.sleep(0.35)
    assert "t1" not in store.scope("Zorblat1 Quenwick").target_ids
    store.maintain()
    assert "t1" not in store.snapshot and len(store.snapshot) == 1
    assert "t1" not in store.snapshot.semantic
    assert store.get("t1").target.id == "t1"  # still on record in the registry


def test_empty_store_and_empty_text(store, embedder):
    assert store.scope("anything").hits == ()
    store.add(person(1))
    calls = embedder.calls
    assert store.scope("   ").hits == () and embedder.calls == calls


def test_restart_rebuilds_without_embedding(tmp_path):
    data = tmp_path / "data"
    first = TargetStore.open(data, HashingEmbedder(), config=StoreConfig(background=False))
    first.add_many([person(i) for i in range(30)])
    first.delete("t4")
    first.close()
    emb = HashingEmbedder()
    again = TargetStore.open(data, emb, config=StoreConfig(background=False))
    assert emb.calls == 0 and again.version == 2 and len(again.snapshot) == 29
    assert again.scope("Zorblat7 Quenwick").target_ids[0] == "t7"
    check(again, data)
    again.close()


@pytest.mark.slow
def test_restart_with_5k_targets(tmp_path):
    data = tmp_path / "data"
    first = TargetStore.open(data, HashingEmbedder(), config=StoreConfig(background=False))
    result = first.add_many(person(i) for i in range(5000))
    assert len(result.added) == 5000 and result.version == 10
    first.close()
    emb = HashingEmbedder()
    start = time.perf_counter()
    again = TargetStore.open(data, emb, config=StoreConfig(background=False))
    elapsed = time.perf_counter() - start
    assert emb.calls == 0 and len(again.snapshot) == 5000 and elapsed < 60
    assert again.scope("Zorblat4321 Quenwick").target_ids[0] == "t4321"
    check(again, data)
    again.close()


def test_refresh_follows_another_process(tmp_path):
    data = tmp_path / "data"
    cfg = StoreConfig(background=False)
    a = TargetStore.open(data, HashingEmbedder(), config=cfg)
    b = TargetStore.open(data, HashingEmbedder(), config=cfg)
    a.add(person(1))
    a.add(person(2))
    a.patch("t1", TargetPatch(name="Vextrin Holloway"))
    a.delete("t2")
    assert b.version == 0 and b.refresh() == 4
    assert b.scope("Vextrin Holloway").target_ids == ("t1",) and "t2" not in b.snapshot
    a.add(person(3))
    b.add(person(4))  # b's write finds a's change first and applies both
    assert b.version == 6 and {"t3", "t4"} <= set(b.snapshot.ids())
    check(b, data)
    a.close()
    b.close()


def test_upkeep_merges_the_delta_and_switches_to_hnsw(tmp_path):
    cfg = StoreConfig(background=False, delta_limit=4, exact_limit=20)
    store = TargetStore.open(tmp_path / "data", HashingEmbedder(), config=cfg)
    for i in range(15):
        store.add(person(i))
    snap = store.snapshot
    assert len(snap.delta) < 4 and len(snap.base.entries) >= 12
    assert snap.semantic.stats().mode == "hnsw"
    assert store.scope("Zorblat13 Quenwick").target_ids[0] == "t13"
    store.delete("t13")
    assert "t13" not in store.scope("Zorblat13 Quenwick").target_ids
    check(store, tmp_path / "data")
    store.close()


def test_background_upkeep(tmp_path):
    cfg = StoreConfig(background=True, delta_limit=8, upkeep_interval_s=0.05)
    store = TargetStore.open(tmp_path / "data", HashingEmbedder(), config=cfg)
    store.add_many([person(i) for i in range(40)], batch_size=10)
    deadline = time.monotonic() + 10
    while store.snapshot.delta and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not store.snapshot.delta and len(store.snapshot.base.entries) == 40
    assert store.scope("Zorblat39 Quenwick").target_ids[0] == "t39"
    check(store, tmp_path / "data")
    store.close()


def test_concurrent_writers_and_readers(tmp_path):
    cfg = StoreConfig(background=True, delta_limit=16, upkeep_interval_s=0.05)
    store = TargetStore.open(tmp_path / "data", HashingEmbedder(), config=cfg)
    store.add(person("counter", aliases=[]))
    versions: dict[str, list[int]] = {}
    seen_by_readers: list[list[int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def adder(w: int):
        versions[f"add{w}"] = [store.add(person(f"{w}-{i}")) for i in range(15)]

    def incrementer(w: int):
        mine = []
        for _ in range(10):
            while True:  # read-modify-write with If-Match: retry on conflict
                current = store.get("tcounter")
                aliases = [*current.target.aliases, f"inc {w} {len(mine)}"]
                try:
                    patch = TargetPatch(aliases=aliases)
                    stored = store.patch("tcounter", patch, expected_version=current.version)
                    break
                except Conflict:
                    continue
            mine.append(stored.version)
        versions[f"inc{w}"] = mine

    def reader():
        seen = []
        while not done.is_set():
            seen.append(store.scope("Zorblatcounter Quenwick").version)
        seen_by_readers.append(seen)

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writers = [threading.Thread(target=guarded, args=(adder, w)) for w in range(3)]
    writers += [threading.Thread(target=guarded, args=(incrementer, w)) for w in range(3)]
    readers = [threading.Thread(target=guarded, args=(reader,)) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert not errors
    all_versions = sorted(v for vs in versions.values() for v in vs)
    assert all_versions == list(range(2, 2 + 45 + 30))  # unique, gap-free
    assert all(vs == sorted(vs) for vs in versions.values())
    assert all(seen == sorted(seen) for seen in seen_by_readers)
    assert len(store.get("tcounter").target.aliases) == 30  # no lost update
    check(store, tmp_path / "data")
    store.close()


def test_long_texts_are_embedded_as_their_last_windows(store, embedder):
    store.add(person(1))
    before = embedder.texts
    text = " ".join(f"word{i}" for i in range(3000)) + " Zorblat1 Quenwick"
    result = store.scope(text)
    assert embedder.texts - before == store.config.max_query_windows
    assert result.target_ids[0] == "t1"


def test_missing_embeddings_refuse_to_start(tmp_path):
    data = tmp_path / "data"
    first = TargetStore.open(data, HashingEmbedder(), config=StoreConfig(background=False))
    first.add(person(1))
    first.close()
    registry = SqliteRegistry.in_dir(data)
    with registry._db.write() as conn:
        conn.execute("DELETE FROM embeddings")
    registry.close()
    with pytest.raises(ConfigurationError, match="lacks its embeddings"):
        TargetStore.open(data, HashingEmbedder(), config=StoreConfig(background=False))


def test_another_embedder_is_refused(tmp_path):
    data = tmp_path / "data"
    first = TargetStore.open(data, HashingEmbedder(), config=StoreConfig(background=False))
    first.add(person(1))
    first.close()
    with pytest.raises(ConfigurationError):
        TargetStore.open(data, HashingEmbedder(dim=32), config=StoreConfig(background=False))
    with pytest.raises(ConfigurationError):
        other = HashingEmbedder(name="other-model")
        TargetStore.open(data, other, config=StoreConfig(background=False))


def test_audit_log_is_part_of_the_store(store):
    from lethe.indices.audit import AuditEvent, AuditQuery

    store.add(person(1))
    store.audit.record([AuditEvent("req-9", "t1", "refusal", "refuse", store.version)])
    (event,) = store.audit.query(AuditQuery(target_id="t1")).events
    assert (event.request_id, event.registry_version) == ("req-9", 1)
