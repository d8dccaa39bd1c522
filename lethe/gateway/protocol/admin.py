"""Wire format of the admin API (``/admin/...``): the bodies it answers with, and their
conversions from the store's types.

Targets go in as :class:`~lethe.indices.ForgetTarget` (``POST``) and
:class:`~lethe.indices.TargetPatch` (``PATCH``) and come out as :class:`StoredTargetOut`: the
target with the registry ``version`` of its last change (also its ``ETag``).

Example:
    >>> TargetCreated(id="t1", version=3).model_dump()
    {'id': 't1', 'version': 3}
    >>> LexicalMatch(kind="alias", start=3, end=8, pattern="Ron").model_dump_json()
    '{"kind":"alias","start":3,"end":8,"pattern":"Ron"}'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from lethe.indices import AuditEvent, ForgetTarget, ScopeHit, ScopeResult, StoredTarget
from lethe.indices.audit import MAX_QUERY_LIMIT

MAX_SCOPE_K = 100
MAX_PAGE_LIMIT = 1000


class TargetCreated(BaseModel):
    """``201`` answer of ``POST /admin/targets``: the target is searchable at ``version``."""

    id: str
    version: int


class StoredTargetOut(ForgetTarget):
    """A stored target: every field of the target, and ``version``, the registry version of its
    last change (send it back as ``If-Match`` to update only that version)."""

    version: int

    @classmethod
    def of(cls, stored: StoredTarget) -> StoredTargetOut:
        """The wire form of a stored target (no re-validation)."""
        return cls.model_construct(**dict(stored.target), version=stored.version)


class TargetList(BaseModel):
    """A page of targets in id order; pass ``next_cursor`` as ``cursor`` for the next one."""

    object: Literal["list"] = "list"
    data: list[StoredTargetOut]
    next_cursor: str | None
    version: int


class TargetDeleted(BaseModel):
    """Answer of ``DELETE /admin/targets/{id}``: gone from the index at ``version``."""

    id: str
    deleted: Literal[True] = True
    version: int


class ImportLineError(BaseModel):
    """Why one line of an import was not added. ``line`` is 1-based; ``param`` names the
    offending field of the target when there is one."""

    line: int
    id: str | None = None
    error: str
    param: str | None = None


class ImportResult(BaseModel):
    """Answer of ``POST /admin/targets:import``. ``errors`` lists the first failed lines
    (``errors_truncated`` when there were more than it holds); ``version`` is the registry
    version after the import."""

    imported: int
    failed: int
    errors: list[ImportLineError]
    errors_truncated: bool = False
    version: int


class LexicalMatch(BaseModel):
    """One lexical mention: the pattern's kind, the span ``[start, end)`` of the text, and
    the name, alias or forbidden string it matched."""

    kind: Literal["name", "alias", "forbidden"]
    start: int
    end: int
    pattern: str


class ScopeHitOut(BaseModel):
    """One target a text would hit: its lexical mentions and its semantic score (cosine of the
    best chunk, ``semantic_source`` says which kind of chunk), ``null`` when not retrieved."""

    target_id: str
    name: str
    kind: str
    scope: str
    lexical: list[LexicalMatch]
    semantic: float | None
    semantic_source: Literal["name", "alias", "content"] | None = None

    @classmethod
    def of(cls, hit: ScopeHit) -> ScopeHitOut:
        """The wire form of a store :class:`~lethe.indices.ScopeHit`."""
        t = hit.target
        return cls(
            target_id=t.id,
            name=t.name,
            kind=t.kind,
            scope=t.scope,
            lexical=[
                LexicalMatch(kind=h.kind, start=h.start, end=h.end, pattern=h.pattern)
                for h in hit.lexical
            ],
            semantic=None if hit.semantic_score is None else round(float(hit.semantic_score), 6),
            semantic_source=hit.chunk_source,
        )


class ScopeQuery(BaseModel):
    """``POST /admin/scope`` body (``GET`` takes the same as query parameters)."""

    text: str = Field(min_length=1)
    tenant: str | None = None
    k: int = Field(default=10, ge=1, le=MAX_SCOPE_K)


class ScopeAnswer(BaseModel):
    """The targets a text would hit at registry ``version``: lexical hits first, then by
    semantic score."""

    version: int
    hits: list[ScopeHitOut]

    @classmethod
    def of(cls, result: ScopeResult) -> ScopeAnswer:
        """The wire form of a store :class:`~lethe.indices.ScopeResult`."""
        return cls(version=result.version, hits=[ScopeHitOut.of(h) for h in result.hits])


class RegistryInfo(BaseModel):
    """``GET /admin/registry``: the served version and what the indices hold.

    ``targets`` counts the targets in the served snapshot, ``vectors`` the live chunk vectors,
    ``tombstones`` removed vectors not compacted yet; ``index`` is ``flat`` (exact) up to
    ``exact_limit`` vectors, ``hnsw`` above.
    """

    version: int
    targets: int
    vectors: int
    tombstones: int
    index: Literal["flat", "hnsw"]
    rebuilding: bool
    exact_limit: int
    embedder: str
    dim: int
    embedder_loaded: bool


class AuditEventOut(BaseModel):
    """One enforcement event. ``body`` is ``null`` unless ``audit_bodies`` is on."""

    id: int
    at: datetime
    request_id: str
    target_id: str
    technique: str
    action: str
    registry_version: int
    detail: dict[str, Any]
    body: str | None = None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventOut:
        """The wire form of a recorded :class:`~lethe.indices.AuditEvent`."""
        assert event.id is not None and event.at is not None  # set when recorded
        return cls(
            id=event.id,
            at=event.at,
            request_id=event.request_id,
            target_id=event.target_id,
            technique=event.technique,
            action=event.action,
            registry_version=event.registry_version,
            detail=dict(event.detail),
            body=event.body,
        )


class AuditList(BaseModel):
    """A page of audit events, oldest first; pass ``next_cursor`` as ``cursor`` for more."""

    object: Literal["list"] = "list"
    data: list[AuditEventOut]
    next_cursor: str | None


__all__ = [
    "MAX_PAGE_LIMIT",
    "MAX_QUERY_LIMIT",
    "MAX_SCOPE_K",
    "AuditEventOut",
    "AuditList",
    "ImportLineError",
    "ImportResult",
    "LexicalMatch",
    "RegistryInfo",
    "ScopeAnswer",
    "ScopeHitOut",
    "ScopeQuery",
    "StoredTargetOut",
    "TargetCreated",
    "TargetDeleted",
    "TargetList",
]
