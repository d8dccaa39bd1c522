"""The value types of :class:`~lethe.indices.store.TargetStore`: its configuration and the
result of a bulk import.

Example:
    >>> StoreConfig().bulk_batch, BulkResult(3, ("t1",), ()).version
    (500, 3)
"""

from __future__ import annotations

from dataclasses import dataclass

from lethe.indices.sqlite_support import Synchronous


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Tuning of a :class:`TargetStore`; the defaults suit one node with 2 cores."""

    exact_limit: int = 100_000  # vectors up to which search is exact (flat), HNSW above
    hnsw_m: int = 32
    ef_construction: int = 40
    ef_search: int = 64
    tombstone_ratio: float = 0.15  # HNSW is compacted once this share of vectors is dead
    overfetch: int = 4  # chunks fetched per wanted target
    bulk_batch: int = 500  # targets per transaction (and version) in add_many
    delta_limit: int = 256  # changed targets before the lexical base is merged
    background: bool = True  # upkeep in a thread; False runs it inline (tests)
    upkeep_interval_s: float = 1.0
    max_query_windows: int = 4  # a long text is embedded as its last N chunk-sized windows
    synchronous: Synchronous = "FULL"
    store_audit_bodies: bool = False


@dataclass(frozen=True, slots=True)
class BulkError:
    """Why the target at ``index`` of a bulk import was not added."""

    index: int
    target_id: str
    message: str


@dataclass(frozen=True, slots=True)
class BulkResult:
    """What :meth:`TargetStore.add_many` did: the final version, what went in, what did not."""

    version: int
    added: tuple[str, ...]
    errors: tuple[BulkError, ...]
