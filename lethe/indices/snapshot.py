"""Immutable snapshots of the forget set, and the scope lookup that runs on one.

A reader takes the store's current :class:`IndexSnapshot` with one attribute read and uses it for
the whole request; writers build the next snapshot and swap it in. To keep a change cheap at a
million targets, a snapshot is two-level:

- a big :class:`Base` (entries dict + lexical automaton), built in the background and shared by
  many snapshots;
- a small *delta* (``target_id -> TargetEntry | Removed``, each with the version that wrote it)
  and its own small automaton, rebuilt per change (O(delta), not O(N)).

Lookups check the delta first. :meth:`IndexSnapshot.merged` folds the delta into a new base (slow,
off the write path); :meth:`IndexSnapshot.rebased` re-attaches the changes made meanwhile.

The semantic index is shared, not copied (see :mod:`lethe.indices.semantic`): a snapshot only
accepts semantic hits of targets it contains, so a target added later stays invisible to it.

Example:
    >>> from lethe.indices.semantic import SemanticIndex
    >>> snap = IndexSnapshot.empty(SemanticIndex(4))
    >>> t = ForgetTarget(id="t1", kind="entity", name="Ada Quill")
    >>> snap = snap.with_changes(1, [TargetEntry.of(t, 1)], [])
    >>> len(snap), [h.target_id for h in snap.lexical_hits("Tell me about ADA QUILL.")]
    (1, ['t1'])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from lethe.indices.chunking import Chunk, ChunkSource, target_chunks
from lethe.indices.lexical import (
    LayeredMatcher,
    LexicalHit,
    LexicalMatcher,
    Pattern,
    target_patterns,
)
from lethe.indices.registry import TargetRecord
from lethe.indices.semantic import SemanticHit, SemanticIndex
from lethe.indices.sqlite_support import utc_now
from lethe.indices.targets import GLOBAL_SCOPE, ForgetTarget


class TargetEntry:
    """A target in a snapshot: what lookups need up front, the full target parsed on demand.

    Built from a parsed target on writes (:meth:`of`) and from a registry record at start-up
    (:meth:`from_record`), where parsing 100k targets would dominate the start-up time. Immutable
    apart from that one-time cache.
    """

    __slots__ = ("_body", "_target", "expires_at", "patterns", "scope", "target_id", "version")

    def __init__(
        self,
        target_id: str,
        version: int,
        scope: str,
        expires_at: datetime | None,
        patterns: tuple[Pattern, ...],
        *,
        target: ForgetTarget | None = None,
        body: str | None = None,
    ) -> None:
        if target is None and body is None:
            raise ValueError("a target entry needs the target or its JSON body")
        self.target_id = target_id
        self.version = version
        self.scope = scope
        self.expires_at = expires_at
        self.patterns = patterns
        self._target = target
        self._body = body

    @classmethod
    def of(cls, target: ForgetTarget, version: int) -> TargetEntry:
        """The entry of a parsed target (compiles its lexical patterns)."""
        t = target
        patterns = target_patterns(t.id, t.name, t.aliases, t.forbidden)
        return cls(t.id, version, t.scope, t.expires_at, patterns, target=t)

    @classmethod
    def from_record(cls, r: TargetRecord) -> TargetEntry:
        """The entry of a registry record; the target is parsed from its body when first used."""
        return cls(r.target_id, r.version, r.scope, r.expires_at, r.patterns, body=r.body)

    @property
    def target(self) -> ForgetTarget:
        """The full target (parsed once, on first use)."""
        if self._target is None:
            assert self._body is not None
            self._target = ForgetTarget.model_validate_json(self._body)
        return self._target

    def applies_to(self, tenant: str | None, now: datetime) -> bool:
        """Whether the target is in force for ``tenant`` at ``now`` (see ``ForgetTarget``)."""
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.scope == GLOBAL_SCOPE or self.scope == tenant

    def __repr__(self) -> str:
        return f"TargetEntry({self.target_id!r}, version={self.version})"


@dataclass(frozen=True, slots=True)
class Removed:
    """A delta marker: the target was deleted (or expired) at ``version``."""

    version: int


@dataclass(frozen=True, slots=True)
class Base:
    """The big, shared layer: all entries as of ``version`` and their automaton."""

    entries: Mapping[str, TargetEntry]
    lexical: LexicalMatcher
    version: int
    next_expiry: datetime | None

    @classmethod
    def build(cls, entries: dict[str, TargetEntry], version: int) -> Base:
        """Build the automaton over ``entries`` (O(patterns): seconds at 100k targets)."""
        lexical = LexicalMatcher(p for e in entries.values() for p in e.patterns)
        return cls(entries, lexical, version, _next_expiry(entries.values()))


def _next_expiry(entries: Iterable[TargetEntry]) -> datetime | None:
    times = [e.expires_at for e in entries if e.expires_at is not None]
    return min(times, default=None)


@dataclass(frozen=True, slots=True)
class ScopeHit:
    """One in-scope target: its lexical mentions and its best semantic chunk (cosine)."""

    target: ForgetTarget
    lexical: tuple[LexicalHit, ...]
    semantic_score: float | None
    chunk_no: int | None
    chunk_source: ChunkSource | None

    @property
    def target_id(self) -> str:
        """The target's id."""
        return self.target.id


@dataclass(frozen=True, slots=True)
class ScopeResult:
    """The targets a text may touch, as seen at registry ``version``; lexical hits first."""

    version: int
    hits: tuple[ScopeHit, ...]

    def get(self, target_id: str) -> ScopeHit | None:
        """The hit of ``target_id``, if any."""
        return next((h for h in self.hits if h.target_id == target_id), None)

    @property
    def target_ids(self) -> tuple[str, ...]:
        """The ids of the hits, in order."""
        return tuple(h.target_id for h in self.hits)


class IndexSnapshot:
    """An immutable view of the forget set at ``version`` (see the module docstring)."""

    __slots__ = ("_size", "base", "delta", "lexical", "next_expiry", "semantic", "version")

    def __init__(
        self,
        version: int,
        base: Base,
        delta: Mapping[str, TargetEntry | Removed],
        semantic: SemanticIndex,
    ) -> None:
        self.version = version
        self.base = base
        self.delta = delta
        self.semantic = semantic
        fresh = [e for e in delta.values() if isinstance(e, TargetEntry)]
        delta_matcher = LexicalMatcher(p for e in fresh for p in e.patterns)
        self.lexical = LayeredMatcher(base.lexical, delta_matcher, frozenset(delta))
        times = [t for t in (base.next_expiry, _next_expiry(fresh)) if t is not None]
        self.next_expiry = min(times, default=None)
        size = len(base.entries)
        for target_id, e in delta.items():
            size += isinstance(e, TargetEntry) - (target_id in base.entries)
        self._size = size

    @classmethod
    def empty(cls, semantic: SemanticIndex) -> IndexSnapshot:
        """A snapshot with no targets at version 0."""
        return cls(0, Base.build({}, 0), {}, semantic)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, target_id: object) -> bool:
        return isinstance(target_id, str) and self.entry(target_id) is not None

    @property
    def max_pattern_length(self) -> int:
        """Longest original span a lexical hit can cover (approximate): a streaming output
        filter holds back at least this many characters."""
        return self.lexical.max_pattern_length

    def entry(self, target_id: str) -> TargetEntry | None:
        """The entry of ``target_id`` (expired ones included), or ``None``."""
        d = self.delta.get(target_id)
        if d is not None:
            return d if isinstance(d, TargetEntry) else None
        return self.base.entries.get(target_id)

    def get(self, target_id: str) -> ForgetTarget | None:
        """The target, or ``None``."""
        e = self.entry(target_id)
        return e.target if e is not None else None

    def ids(self) -> Iterator[str]:
        """Every target id (expired ones included, until the next merge drops them)."""
        for target_id, e in self.delta.items():
            if isinstance(e, TargetEntry):
                yield target_id
        for target_id in self.base.entries:
            if target_id not in self.delta:
                yield target_id

    def chunks(self, target_id: str) -> tuple[Chunk, ...]:
        """The embedded chunks of a target (``ScopeHit.chunk_no`` indexes into these)."""
        t = self.get(target_id)
        return target_chunks(t.name, t.aliases, t.content) if t is not None else ()

    def with_changes(
        self, version: int, upserts: Sequence[TargetEntry], removed: Sequence[str]
    ) -> IndexSnapshot:
        """The next snapshot: ``upserts`` added or replaced, ``removed`` deleted (O(delta))."""
        delta = dict(self.delta)
        for target_id in removed:
            delta[target_id] = Removed(version)
        for e in upserts:
            delta[e.target_id] = e
        return IndexSnapshot(version, self.base, delta, self.semantic)

    def merged(self, now: datetime) -> tuple[Base, list[str]]:
        """A new base with the delta folded in and expired targets dropped (slow: O(N)).

        Returns the base and the ids of the targets dropped as expired.
        """
        entries = dict(self.base.entries)
        for target_id, e in self.delta.items():
            if isinstance(e, TargetEntry):
                entries[target_id] = e
            else:
                entries.pop(target_id, None)
        expired = [
            i for i, e in entries.items() if e.expires_at is not None and e.expires_at <= now
        ]
        for target_id in expired:
            del entries[target_id]
        return Base.build(entries, self.version), expired

    def rebased(self, base: Base) -> IndexSnapshot:
        """This snapshot on a newer ``base``: only delta changes newer than the base stay."""
        delta = {i: e for i, e in self.delta.items() if e.version > base.version}
        return IndexSnapshot(self.version, base, delta, self.semantic)

    def applies(self, target_id: str, tenant: str | None, now: datetime) -> bool:
        """Whether ``target_id`` is in this snapshot, in force, and global or ``tenant``'s."""
        e = self.entry(target_id)
        return e is not None and e.applies_to(tenant, now)

    def lexical_hits(
        self, text: str, *, tenant: str | None = None, now: datetime | None = None
    ) -> list[LexicalHit]:
        """Mentions of in-force targets in ``text`` (for the output filter: no embedding)."""
        now = now or utc_now()
        return [h for h in self.lexical.match(text) if self.applies(h.target_id, tenant, now)]

    def holdback(self, text: str) -> int:
        """Trailing characters of ``text`` that may still become a mention of some target
        (for a streaming output filter: release the rest)."""
        return self.lexical.holdback(text)

    def scope(
        self,
        text: str,
        queries: np.ndarray,
        *,
        k: int = 10,
        tenant: str | None = None,
        now: datetime | None = None,
    ) -> ScopeResult:
        """Targets ``text`` may touch: lexical hits, plus the ``k`` nearest targets of ``queries``
        (embeddings of ``text``). Targets hit lexically also get their exact semantic score."""
        now = now or utc_now()
        lexical = self.lexical_hits(text, tenant=tenant, now=now)
        semantic = {
            h.target_id: h
            for h in self.semantic.search(queries, k, accept=lambda t: self.applies(t, tenant, now))
        }
        by_target: dict[str, list[LexicalHit]] = {}
        for h in lexical:
            by_target.setdefault(h.target_id, []).append(h)
        missing = [t for t in by_target if t not in semantic]
        if missing and len(queries):
            semantic.update(self.semantic.scores_for(queries, missing))
        hits = [
            _hit(self.get(t), tuple(by_target.get(t, ())), semantic.get(t))
            for t in {**by_target, **semantic}
        ]
        hits.sort(key=lambda h: (not h.lexical, -(h.semantic_score or -2.0)))
        return ScopeResult(self.version, tuple(hits))


def _hit(
    target: ForgetTarget | None, lexical: tuple[LexicalHit, ...], sem: SemanticHit | None
) -> ScopeHit:
    assert target is not None  # only ids of this snapshot reach here
    if sem is None:
        return ScopeHit(target, lexical, None, None, None)
    return ScopeHit(target, lexical, sem.score, sem.chunk_no, sem.source)
