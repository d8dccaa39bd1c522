"""The target store: registry + embedder + the current index snapshot, behind one small API.

Writes (``add``, ``add_many``, ``patch``, ``delete``) embed *outside* any lock, then, under one
writer lock, commit one registry transaction, update the shared semantic index (~1 ms) and swap in
the next snapshot (O(delta)); they return once the change is searchable. Reads (``scope``) take the
current snapshot with one attribute read and never wait for a writer beyond FAISS's brief lock.

Slow upkeep (lexical base merge, exact→HNSW switch, tombstone compaction, expiry) runs in a
background :class:`~lethe.indices.maintenance.Maintainer`, or inline when ``background=False``.

Start-up (:meth:`TargetStore.rebuild_from_registry`) loads stored embeddings, never re-embeds; with
more vectors than ``exact_limit`` it serves from an exact index at once and builds HNSW behind.
:meth:`TargetStore.refresh` applies changes another process made (the change log since the
snapshot's version); a write that finds foreign changes applies them first.

Example:
    >>> import numpy as np, tempfile
    >>> class Ones:
    ...     name, dim = "ones", 2
    ...     def embed(self, texts):
    ...         return np.ones((len(texts), 2), np.float32) / np.sqrt(2)
    >>> store = TargetStore.open(tempfile.mkdtemp(), Ones(), config=StoreConfig(background=False))
    >>> store.add(ForgetTarget(id="t1", kind="entity", name="Ada Quill"))
    1
    >>> store.scope("Who is ada quill?").target_ids
    ('t1',)
    >>> store.close()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Final

import numpy as np

from lethe.errors import ConfigurationError, Conflict, InvalidRequest, NotFound
from lethe.indices.audit import AuditLog
from lethe.indices.chunking import CHUNKER_ID, chunk_text
from lethe.indices.embedder import Embedder, SentenceTransformerEmbedder
from lethe.indices.encoding import encode_targets, reencode
from lethe.indices.maintenance import Maintainer, paused_gc
from lethe.indices.patch import TargetPatch, apply_patch
from lethe.indices.registry import (
    Applied,
    Delete,
    Op,
    Put,
    Registry,
    StoredTarget,
    TargetPage,
    TargetVectors,
)
from lethe.indices.semantic import SemanticIndex
from lethe.indices.snapshot import Base, IndexSnapshot, ScopeResult, TargetEntry
from lethe.indices.sqlite_audit import SqliteAuditLog
from lethe.indices.sqlite_registry import SqliteRegistry
from lethe.indices.sqlite_support import utc_now
from lethe.indices.store_types import BulkError, BulkResult, StoreConfig
from lethe.indices.targets import ForgetTarget

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR: Final = "./lethe-data"
_PATCH_RETRIES: Final = 8


class TargetStore:
    """Forget targets, durable and searchable (see the module docstring). Thread-safe."""

    def __init__(
        self,
        registry: Registry,
        embedder: Embedder,
        *,
        audit: AuditLog | None = None,
        config: StoreConfig | None = None,
    ) -> None:
        self.config = config or StoreConfig()
        self.audit = audit
        self._registry = registry
        self._embedder = embedder
        self._write_lock = threading.RLock()
        self._upkeep_lock = threading.Lock()
        registry.bind(embedder.name, embedder.dim, CHUNKER_ID)
        self._maintainer: Maintainer | None = None
        self._snapshot = IndexSnapshot.empty(self._new_semantic())
        self.rebuild_from_registry()
        if self.config.background:
            self._maintainer = Maintainer(self.maintain, interval_s=self.config.upkeep_interval_s)

    @classmethod
    def open(
        cls,
        data_dir: str | Path = DEFAULT_DATA_DIR,
        embedder: Embedder | None = None,
        *,
        config: StoreConfig | None = None,
    ) -> TargetStore:
        """The store in ``data_dir`` (``registry.sqlite3``, ``audit.sqlite3``), rebuilt, ready."""
        config = config or StoreConfig()
        registry = SqliteRegistry.in_dir(data_dir, synchronous=config.synchronous)
        audit = SqliteAuditLog.in_dir(data_dir, store_bodies=config.store_audit_bodies)
        return cls(registry, embedder or SentenceTransformerEmbedder(), audit=audit, config=config)

    def _new_semantic(self) -> SemanticIndex:
        c = self.config
        return SemanticIndex(
            self._embedder.dim,
            exact_limit=c.exact_limit,
            hnsw_m=c.hnsw_m,
            ef_construction=c.ef_construction,
            ef_search=c.ef_search,
            tombstone_ratio=c.tombstone_ratio,
            overfetch=c.overfetch,
        )

    @property
    def snapshot(self) -> IndexSnapshot:
        """The current snapshot; keep it for a whole request to see one version."""
        return self._snapshot

    @property
    def version(self) -> int:
        """The registry version the current snapshot reflects."""
        return self._snapshot.version

    @property
    def embedder(self) -> Embedder:
        """The embedder this store's vectors come from."""
        return self._embedder

    # -- reads ------------------------------------------------------------------------------

    def scope(self, text: str, *, k: int = 10, tenant: str | None = None) -> ScopeResult:
        """Targets ``text`` may touch (see :meth:`IndexSnapshot.scope`); embeds ``text`` once."""
        snap = self._snapshot
        if not len(snap) or not text.strip():
            return ScopeResult(snap.version, ())
        windows = chunk_text(text)[-self.config.max_query_windows :]
        return snap.scope(text, self._embedder.embed(windows), k=k, tenant=tenant)

    def get(self, target_id: str) -> StoredTarget:
        """A target and its version, from the registry (expired ones included)."""
        stored = self._registry.get(target_id)
        if stored is None:
            raise NotFound(f"no target {target_id}", param="id")
        return stored

    def list(
        self,
        *,
        kind: str | None = None,
        scope: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        include_expired: bool = True,
    ) -> TargetPage:
        """A page of targets in id order (see :meth:`Registry.list`)."""
        active_at = None if include_expired else utc_now()
        return self._registry.list(
            kind=kind, scope=scope, cursor=cursor, limit=limit, active_at=active_at
        )

    # -- writes -----------------------------------------------------------------------------

    def add(self, target: ForgetTarget) -> int:
        """Add one target; returns the new version once it is searchable (``Conflict`` if the
        id exists, ``InvalidRequest`` if it has already expired)."""
        _check_not_expired(target, utc_now())
        (vectors,) = encode_targets(self._embedder, [target])
        applied = self._commit([Put(target, vectors)])
        if applied.skipped:
            raise Conflict(f"target {target.id} already exists", param="id")
        return applied.version

    def add_many(
        self, targets: Iterable[ForgetTarget], *, batch_size: int | None = None
    ) -> BulkResult:
        """Add many targets, ``batch_size`` (default ``bulk_batch``) per transaction.

        Each batch is atomic and bumps the version once. Targets whose id exists already (or
        repeats within the import) or that have expired are reported in ``errors`` and skipped.
        """
        size = batch_size or self.config.bulk_batch
        added: list[str] = []
        errors: list[BulkError] = []
        seen: set[str] = set()
        numbered = enumerate(targets)
        now = utc_now()
        while batch := list(islice(numbered, size)):
            ok: list[tuple[int, ForgetTarget]] = []
            for i, t in batch:
                problem = _bulk_problem(t, seen, now)
                if problem:
                    errors.append(BulkError(i, t.id, problem))
                else:
                    seen.add(t.id)
                    ok.append((i, t))
            if not ok:
                continue
            vectors = encode_targets(self._embedder, [t for _, t in ok])
            applied = self._commit([Put(t, v) for (_, t), v in zip(ok, vectors, strict=True)])
            skipped = set(applied.skipped)
            for i, t in ok:
                if t.id in skipped:
                    errors.append(BulkError(i, t.id, f"target {t.id} already exists"))
                else:
                    added.append(t.id)
        return BulkResult(self.version, tuple(added), tuple(errors))

    def patch(
        self, target_id: str, patch: TargetPatch, *, expected_version: int | None = None
    ) -> StoredTarget:
        """Apply a partial update; re-embeds only new chunk texts.

        With ``expected_version`` (an If-Match), a target changed since raises ``Conflict``;
        without it, a concurrent change is retried on the fresh value (no lost update).
        """
        for _ in range(_PATCH_RETRIES):
            current = self._registry.get(target_id, vectors=True)
            if current is None:
                raise NotFound(f"no target {target_id}", param="id")
            if expected_version is not None and current.version != expected_version:
                raise Conflict(f"target {target_id} is at version {current.version}")
            new = apply_patch(current.target, patch)
            if new == current.target:
                return StoredTarget(current.target, current.version)
            vectors = reencode(self._embedder, current, new)
            op = Put(new, vectors, replace=True, expected_version=current.version)
            try:
                applied = self._commit([op])
            except Conflict:
                if expected_version is not None:
                    raise
                continue
            stored = applied.written[0]
            return StoredTarget(stored.target, stored.version)
        raise Conflict(f"target {target_id} kept changing; try again")

    def delete(self, target_id: str, *, expected_version: int | None = None) -> int:
        """Delete a target; returns the new version (``NotFound`` if absent)."""
        return self._commit([Delete(target_id, expected_version)]).version

    def _commit(self, ops: list[Op]) -> Applied:
        with self._write_lock:
            applied = self._registry.apply(ops)
            if applied.version != applied.previous:
                if applied.previous != self._snapshot.version:
                    self._refresh_locked()  # another process wrote in between: follow the log
                else:
                    self._publish_locked(applied)
        for stored in applied.written:
            logger.debug("event=target_written id=%s version=%d", stored.target.id, applied.version)
        for target_id in applied.deleted:
            logger.debug("event=target_deleted id=%s version=%d", target_id, applied.version)
        self._after_write()
        return applied

    def _publish_locked(self, applied: Applied) -> None:
        semantic = self._snapshot.semantic
        semantic.remove(applied.deleted)
        semantic.put_many(
            (s.target.id, s.vectors.matrix, s.vectors.sources)
            for s in applied.written
            if s.vectors is not None
        )
        entries = [TargetEntry.of(s.target, s.version) for s in applied.written]
        self._snapshot = self._snapshot.with_changes(applied.version, entries, applied.deleted)

    # -- following the registry -------------------------------------------------------------

    def refresh(self) -> int:
        """Apply changes made by other processes since this snapshot; returns the version."""
        with self._write_lock:
            if self._registry.version() != self._snapshot.version:
                self._refresh_locked()
            version = self._snapshot.version
        self._after_write()
        return version

    def _refresh_locked(self) -> None:
        snap = self._snapshot
        changes = self._registry.changes_since(snap.version)
        removed = [t for t, stored in changes.targets.items() if stored is None]
        written = [s for s in changes.targets.values() if s is not None]
        snap.semantic.remove(removed)
        snap.semantic.put_many(_vector_item(s.target.id, s.vectors) for s in written)
        entries = [TargetEntry.of(s.target, s.version) for s in written]
        self._snapshot = snap.with_changes(changes.version, entries, removed)
        logger.info("event=store_refreshed from=%d to=%d", snap.version, changes.version)

    def rebuild_from_registry(self) -> int:
        """Rebuild every index from the registry's stored embeddings; returns the version."""
        with self._write_lock, paused_gc():
            semantic = self._new_semantic()
            entries: dict[str, TargetEntry] = {}
            now = utc_now()
            with self._registry.dump() as dump:
                batch: list[tuple[str, np.ndarray, str]] = []
                rows = 0
                for record in dump:  # records: no target is parsed or validated here
                    item = _vector_item(record.target_id, record.vectors)
                    if record.expires_at is not None and record.expires_at <= now:
                        continue
                    entries[record.target_id] = TargetEntry.from_record(record)
                    batch.append(item)
                    rows += len(item[2])
                    if rows >= 65536:  # few big FAISS adds: each one reallocates the index
                        semantic.put_many(batch)
                        batch, rows = [], 0
                semantic.put_many(batch)
                version = dump.version
            self._snapshot = IndexSnapshot(version, Base.build(entries, version), {}, semantic)
        logger.info("event=store_rebuilt version=%d targets=%d", version, len(entries))
        self._after_write()
        return version

    # -- upkeep -----------------------------------------------------------------------------

    def _upkeep_due(self) -> bool:
        snap = self._snapshot
        if len(snap.delta) >= self.config.delta_limit:
            return True
        if snap.next_expiry is not None and snap.next_expiry <= utc_now():
            return True
        return snap.semantic.needs_rebuild() is not None

    def _after_write(self) -> None:
        if not self._upkeep_due():
            return
        if self._maintainer is not None:
            self._maintainer.wake()
        elif not self.config.background:
            self.maintain()

    def maintain(self) -> None:
        """Run the due upkeep now (merge the lexical delta, drop expired, rebuild FAISS)."""
        with self._upkeep_lock:
            snap = self._snapshot
            due_expiry = snap.next_expiry is not None and snap.next_expiry <= utc_now()
            if len(snap.delta) >= self.config.delta_limit or due_expiry:
                self._merge(snap)
            self._snapshot.semantic.rebuild()

    def _merge(self, snap: IndexSnapshot) -> None:
        with paused_gc():
            base, expired = snap.merged(utc_now())  # O(N), outside the writer lock
        with self._write_lock:
            current = self._snapshot
            if current.base is not snap.base or current.semantic is not snap.semantic:
                return  # rebuilt meanwhile: this base is stale
            rebased = current.rebased(base)
            current.semantic.remove(t for t in expired if t not in rebased.delta)
            self._snapshot = rebased
        logger.info(
            "event=lexical_merged version=%d targets=%d expired=%d",
            base.version,
            len(base.entries),
            len(expired),
        )

    def close(self) -> None:
        """Stop upkeep and close the registry and the audit log."""
        if self._maintainer is not None:
            self._maintainer.stop()
        self._registry.close()
        if self.audit is not None:
            self.audit.close()


def _vector_item(target_id: str, v: TargetVectors | None) -> tuple[str, np.ndarray, str]:
    """``(target_id, matrix, sources)`` for the semantic index; the registry must hold them."""
    if v is None or len(v.sources) != len(v.matrix):
        raise ConfigurationError(f"registry target {target_id} lacks its embeddings")
    return target_id, v.matrix, v.sources


def _check_not_expired(target: ForgetTarget, now: datetime) -> None:
    if target.expires_at is not None and target.expires_at <= now:
        raise InvalidRequest("expires_at is in the past", param="expires_at")


def _bulk_problem(target: ForgetTarget, seen: set[str], now: datetime) -> str | None:
    if target.id in seen:
        return f"target {target.id} appears twice in this import"
    if target.expires_at is not None and target.expires_at <= now:
        return "expires_at is in the past"
    return None
