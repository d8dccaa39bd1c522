"""Replicas sharing one registry: each follows the others' changes from the change log, and a
replica that cannot read the registry goes stale."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lethe.indices import ForgetTarget, StoreConfig, TargetStore
from lethe.indices.follower import RegistryFollower
from tests.indices.fakes import HashingEmbedder


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``predicate`` held (fails the test after ``timeout``)."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.005)
    return time.monotonic() - started


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[TargetStore, TargetStore, RegistryFollower]]:
    config = StoreConfig(background=False)
    a = TargetStore.open(tmp_path, HashingEmbedder(), config=config)
    b = TargetStore.open(tmp_path, HashingEmbedder(), config=config)
    follower = RegistryFollower(b, interval_s=0.05, stale_after_s=1.0)
    follower.start()
    yield a, b, follower
    follower.stop()
    a.close()
    b.close()


def in_scope(store: TargetStore, text: str) -> set[str]:
    return {h.target_id for h in store.snapshot.lexical_hits(text)}


def test_adds_patches_and_deletes_reach_the_other_replica(replicas) -> None:
    a, b, follower = replicas
    a.add(ForgetTarget(id="ada", kind="entity", name="Ada Quill"))
    wait_for(lambda: in_scope(b, "Tell me about Ada Quill") == {"ada"})
    assert b.version == a.version and follower.healthy()
    a.delete("ada")
    wait_for(lambda: in_scope(b, "Tell me about Ada Quill") == set())
    assert len(b.snapshot) == 0 and b.version == a.version


def test_a_wake_applies_at_once(tmp_path: Path) -> None:
    config = StoreConfig(background=False)
    a = TargetStore.open(tmp_path, HashingEmbedder(), config=config)
    b = TargetStore.open(tmp_path, HashingEmbedder(), config=config)
    follower = RegistryFollower(b, interval_s=60, stale_after_s=120)
    follower.start()
    try:
        time.sleep(0.05)  # the first poll is done; the next would be in a minute
        a.add(ForgetTarget(id="ada", kind="entity", name="Ada Quill"))
        follower.wake()
        assert wait_for(lambda: b.version == a.version, timeout=2.0) < 1.0
    finally:
        follower.stop()
        a.close()
        b.close()


class Flaky:
    """A store whose registry can be made unreachable."""

    def __init__(self) -> None:
        self.version = 0
        self.down = False

    def refresh(self) -> int:
        if self.down:
            raise OSError("registry unreachable")
        return self.version


def test_an_unreachable_registry_makes_the_replica_stale_until_it_returns() -> None:
    store = Flaky()
    follower = RegistryFollower(store, interval_s=0.02, stale_after_s=0.2)
    follower.start()
    try:
        assert follower.healthy()
        store.down = True
        wait_for(lambda: not follower.healthy(), timeout=2.0)
        assert follower.lag_s > 0.2
        store.down = False
        wait_for(follower.healthy, timeout=2.0)
    finally:
        follower.stop()


def test_bad_intervals_are_refused() -> None:
    with pytest.raises(ValueError):
        RegistryFollower(Flaky(), interval_s=0, stale_after_s=1)
