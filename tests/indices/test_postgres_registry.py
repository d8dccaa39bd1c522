"""PostgresRegistry: the registry contract, and what a shared server adds (feed, restarts).

Runs against a throwaway PostgreSQL 15 (:mod:`tests.indices.postgres`), one database per test.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from lethe.errors import ConfigurationError, NotFound, Unavailable
from lethe.indices.follower import RegistryFollower
from lethe.indices.postgres_feed import ChangeFeed
from lethe.indices.postgres_registry import PostgresRegistry
from lethe.indices.postgres_support import import_psycopg
from lethe.indices.registry import Delete, Put
from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from lethe.indices.targets import ForgetTarget
from tests.indices import postgres
from tests.indices.checks import assert_store_matches_registry
from tests.indices.fakes import HashingEmbedder
from tests.indices.registry_contract import RegistryContract, run_threads, target, vectors

postgres_server = postgres.postgres_server
postgres_dsn = postgres.postgres_dsn


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def open_registry(postgres_dsn):
    opened: list[PostgresRegistry] = []

    def open_(**kwargs) -> PostgresRegistry:
        opened.append(PostgresRegistry(postgres_dsn, **kwargs))
        return opened[-1]

    yield open_
    for reg in opened:
        reg.close()


@pytest.fixture
def feed_of(postgres_dsn):
    """``feed_of(callback, **kwargs)``: a started, listening ChangeFeed, stopped at teardown."""
    feeds: list[ChangeFeed] = []

    def start(callback, **kwargs) -> ChangeFeed:
        feed = ChangeFeed(postgres_dsn, callback, **kwargs)
        feed.start()
        assert feed.wait_listening(10)
        feeds.append(feed)
        return feed

    yield start
    for feed in feeds:
        feed.stop()


class TestPostgresRegistry(RegistryContract):
    """The registry contract on one PostgreSQL database; every handle has its own connections."""


def test_missing_psycopg_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'lethe\[postgres\]'"):
        import_psycopg()
    with pytest.raises(ConfigurationError, match="lethe"):
        PostgresRegistry("host=127.0.0.1")


def test_modules_import_without_psycopg():
    code = (
        "import sys; sys.modules['psycopg'] = None; "
        "import lethe.indices.postgres_registry, lethe.indices.postgres_feed"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_patterns_are_recompiled_when_the_normalizer_changes(open_registry, postgres_dsn):
    open_registry().apply([Put(target(1, aliases=["P-One"]), vectors())])
    postgres.execute(postgres_dsn, "UPDATE targets SET patterns = '[]'")
    postgres.execute(postgres_dsn, "UPDATE meta SET value = 'old-rules' WHERE key = 'normalizer'")
    again = open_registry()
    with again.dump() as dump:
        (record,) = list(dump)
    assert [p.key for p in record.patterns] == ["person1", "pone"] and again.version() == 1


def test_a_newer_schema_is_refused(open_registry, postgres_dsn):
    open_registry()
    postgres.execute(postgres_dsn, "UPDATE meta SET value = '2' WHERE key = 'schema'")
    with pytest.raises(ConfigurationError, match="schema 2"):
        open_registry()


def test_pool_size_bounds_the_connections(open_registry, postgres_dsn):
    reg = open_registry(pool_size=2)
    run_threads(lambda w: [reg.apply([Put(target(f"{w}-{i}"), vectors())]) for i in range(5)], 8)
    assert reg.version() == 40
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    assert postgres.execute(postgres_dsn, sql)[0][0] - 1 <= 2  # less the one asking


def test_each_commit_notifies_the_feed_with_its_version(open_registry, feed_of):
    reg = open_registry()
    got: list[int] = []
    feed_of(got.append)
    wait_for(lambda: got == [0])  # the version as of connecting
    reg.apply([Put(target(1), vectors())])
    reg.apply([Put(target(1), vectors())])  # skipped: nothing committed, nothing sent
    with pytest.raises(NotFound):  # rolled back: nothing sent either
        reg.apply([Put(target(2), vectors()), Delete("t9")])
    reg.apply([Delete("t1")])
    wait_for(lambda: got[-1] == 2)
    assert got == [0, 1, 2]


def test_concurrent_writers_commit_strictly_increasing_versions(open_registry, feed_of):
    handles = [open_registry() for _ in range(3)]
    got: list[int] = []
    feed_of(got.append)
    run_threads(lambda w: [handles[w % 3].apply([Put(target(f"{w}-{i}"), vectors())])
                           for i in range(10)], 6)  # fmt: skip
    wait_for(lambda: got[-1] == 60)
    assert got == [0, *range(1, 61)]  # commit order is version order, no gaps


def test_feed_reconnects_after_a_server_restart(postgres_server, open_registry, feed_of):
    reg = open_registry()
    got: list[int] = []
    feed = feed_of(got.append, max_backoff_s=0.2)
    wait_for(lambda: got == [0])
    postgres_server.stop()
    wait_for(lambda: not feed.listening)
    postgres_server.start()
    wait_for(lambda: feed.connects == 2)
    assert reg.apply([Put(target(1), vectors())]).version == 1
    wait_for(lambda: got[-1] == 1)
    assert got == [0, 0, 1]


def test_feed_reports_changes_made_while_it_was_away(open_registry, feed_of, postgres_dsn):
    reg = open_registry()
    got: list[int] = []
    feed = feed_of(got.append, min_backoff_s=1.0)
    postgres.execute(
        postgres_dsn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    wait_for(lambda: not feed.listening)
    reg.apply([Put(target(1), vectors())])  # its NOTIFY reaches no one; its connection is new
    wait_for(lambda: feed.connects == 2)
    wait_for(lambda: got[-1] == 1)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_registry_survives_a_server_restart(postgres_server, open_registry, mode):
    reg = open_registry()
    reg.apply([Put(target(1), vectors(3))])
    postgres_server.stop(mode)
    with pytest.raises(Unavailable):
        reg.version()
    with pytest.raises(Unavailable):
        reg.apply([Put(target(2), vectors())])
    postgres_server.start()
    assert reg.version() == 1 and reg.get("t1", vectors=True).vectors.matrix.shape == (3, 4)
    assert reg.apply([Put(target(2), vectors())]).version == 2
    assert [c.version for c in reg.changes(0)] == [1, 2]


def test_dump_is_consistent_while_a_writer_commits(open_registry):
    reg = open_registry()
    n = 2500  # more than one server-side cursor batch
    reg.apply([Put(target(i), vectors(1)) for i in range(n)])
    stop, commits = threading.Event(), []

    def writer() -> None:
        i = 0
        while not stop.is_set():
            ops = [Delete(f"t{i}"), Put(target(f"new{i}"), vectors(1))]
            commits.append(reg.apply(ops).version)
            i += 1

    thread = threading.Thread(target=writer)
    with reg.dump() as dump:
        records = iter(dump)
        first = next(records)
        thread.start()
        wait_for(lambda: len(commits) >= 5)  # committed while the dump is half read
        ids = [first.target_id, *(r.target_id for r in records)]
        stop.set()
        thread.join()
    assert dump.version == 1 and dump.count == n
    assert ids == sorted((f"t{i}" for i in range(n)), key=str.encode)
    assert reg.version() == 1 + len(commits)


def test_two_target_stores_follow_each_other(postgres_dsn):
    embedder = HashingEmbedder()
    config = StoreConfig(background=False)
    a = TargetStore(PostgresRegistry(postgres_dsn), embedder, audit=None, config=config)
    b = TargetStore(PostgresRegistry(postgres_dsn), embedder, audit=None, config=config)
    try:
        v1 = a.add(ForgetTarget(id="t1", kind="entity", name="Ada Quill"))
        assert b.version == 0 and b.refresh() == v1
        assert b.scope("Who is Ada Quill?").target_ids == ("t1",)
        v2 = b.delete("t1")
        assert a.refresh() == v2 and a.scope("Who is Ada Quill?").target_ids == ()
        b.add(ForgetTarget(id="t2", kind="entity", name="Bo Ren"))
        a.add(ForgetTarget(id="t3", kind="entity", name="Cy Vale"))  # follows b's change first
        assert sorted(a.snapshot.ids()) == ["t2", "t3"]
        b.refresh()
        for store in (a, b):
            assert_store_matches_registry(store, store._registry)
    finally:
        a.close()
        b.close()


def test_the_feed_wakes_a_follower(postgres_dsn, feed_of):
    config = StoreConfig(background=False)
    a = TargetStore(PostgresRegistry(postgres_dsn), HashingEmbedder(), config=config)
    b = TargetStore(PostgresRegistry(postgres_dsn), HashingEmbedder(), config=config)
    follower = RegistryFollower(b, interval_s=60, stale_after_s=120)  # polls once at start only
    follower.start()
    feed_of(lambda version: follower.wake())
    try:
        version = a.add(ForgetTarget(id="t1", kind="entity", name="Ada Quill"))
        wait_for(lambda: b.version == version, timeout=5)
    finally:
        follower.stop()
        a.close()
        b.close()
