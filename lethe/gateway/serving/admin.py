"""The admin API's logic: forget targets CRUD, bulk import, scope lookups, registry, audit.

Every store call that may block (embedding on writes and lookups, SQLite reads) runs in a worker
thread (:func:`~lethe.gateway.serving.admin_import.run_blocking`), so chat streams on the event
loop never wait behind an import. Writes return once the change is searchable.

Errors: a target or patch that fails validation is :class:`~lethe.gateway.errors.InvalidTarget`
(422, ``param`` = the field path); an unknown id is ``NotFound`` (404); an existing id or a stale
``If-Match`` is ``Conflict`` (409); a store still opening is ``Unavailable`` (503).

Example:
    >>> serving = AdminServing(store_loader, settings)                    # doctest: +SKIP
    >>> await serving.add(ForgetTarget(kind="entity", name="Ada Quill"))  # doctest: +SKIP
    TargetCreated(id='tgt_…', version=1)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from pydantic import ValidationError

from lethe.errors import InvalidRequest
from lethe.gateway.errors import InvalidTarget
from lethe.gateway.protocol.admin import (
    AuditEventOut,
    AuditList,
    ImportResult,
    RegistryInfo,
    ScopeAnswer,
    ScopeQuery,
    StoredTargetOut,
    TargetCreated,
    TargetDeleted,
    TargetList,
)
from lethe.gateway.readiness import StoreLoader
from lethe.gateway.serving.admin_import import Importer, describe_validation, run_blocking
from lethe.gateway.settings import Settings
from lethe.indices import AuditQuery, ForgetTarget, TargetPatch, TargetStore


def parse_if_match(value: str | None) -> int | None:
    """The version in an ``If-Match`` header (``12``, ``"12"`` or ``W/"12"``); None for ``*``.

    >>> parse_if_match('"12"'), parse_if_match("*"), parse_if_match(None)
    (12, None, None)
    """
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidRequest(
            'If-Match must be the target\'s version (its ETag), e.g. If-Match: "12".',
            param="If-Match",
            code="invalid_value",
        )
    return int(text)


def expected_version(if_match: str | None, expected: int | None) -> int | None:
    """The version a conditional write expects, from ``If-Match`` or ``expected_version``."""
    from_header = parse_if_match(if_match)
    if from_header is not None and expected is not None and from_header != expected:
        raise InvalidRequest(
            "If-Match and expected_version disagree; send one of them.",
            param="expected_version",
            code="invalid_value",
        )
    return from_header if from_header is not None else expected


def _utc(value: datetime | None) -> datetime | None:
    """A naive time is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _audit_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise InvalidRequest(
            "cursor must be a next_cursor returned by this endpoint.",
            param="cursor",
            code="invalid_value",
        )
    return int(cursor)


class AdminServing:
    """What the admin routes call; the store is taken from ``stores`` on every call."""

    def __init__(self, stores: StoreLoader, settings: Settings) -> None:
        self._stores = stores
        self._settings = settings

    def store(self) -> TargetStore:
        """The open store (503 ``Unavailable`` while it opens)."""
        return self._stores.require()

    async def add(self, target: ForgetTarget) -> TargetCreated:
        """Add one target; returns once it is searchable (409 if the id exists)."""
        store = self.store()
        try:
            version = await run_blocking(store.add, target)
        except InvalidRequest as exc:  # an expired target: a problem of the target itself
            raise InvalidTarget(exc.message, param=exc.param) from None
        return TargetCreated(id=target.id, version=version)

    async def import_jsonl(self, chunks: AsyncIterator[bytes]) -> ImportResult:
        """Import a streamed JSONL body, one target per line (see :mod:`admin_import`)."""
        return await Importer(self.store(), self._settings.import_batch).run(chunks)

    async def list(
        self, *, kind: str | None, scope: str | None, cursor: str | None, limit: int
    ) -> TargetList:
        """A page of targets in id order."""
        store = self.store()
        page = await run_blocking(store.list, kind=kind, scope=scope, cursor=cursor, limit=limit)
        return TargetList(
            data=[StoredTargetOut.of(s) for s in page.items],
            next_cursor=page.next_cursor,
            version=page.version,
        )

    async def get(self, target_id: str) -> StoredTargetOut:
        """One target with its version (404 if absent)."""
        store = self.store()
        return StoredTargetOut.of(await run_blocking(store.get, target_id))

    async def patch(
        self, target_id: str, patch: TargetPatch, expected: int | None
    ) -> StoredTargetOut:
        """Apply a partial update (409 when ``expected`` is stale; 422 if the result is
        invalid); re-embeds only what changed."""
        store = self.store()
        try:
            stored = await run_blocking(store.patch, target_id, patch, expected_version=expected)
        except ValidationError as exc:
            message, param = describe_validation(exc)
            raise InvalidTarget(message, param=param) from None
        return StoredTargetOut.of(stored)

    async def delete(self, target_id: str, expected: int | None) -> TargetDeleted:
        """Delete a target; it is gone from lookups when this returns (404 if absent)."""
        store = self.store()
        version = await run_blocking(store.delete, target_id, expected_version=expected)
        return TargetDeleted(id=target_id, version=version)

    async def scope(self, query: ScopeQuery) -> ScopeAnswer:
        """The targets ``query.text`` would hit, with lexical spans and semantic scores."""
        store = self.store()
        result = await run_blocking(store.scope, query.text, k=query.k, tenant=query.tenant)
        return ScopeAnswer.of(result)

    def registry(self) -> RegistryInfo:
        """The served version and what the indices hold (no I/O)."""
        store = self.store()
        snapshot = store.snapshot
        stats = snapshot.semantic.stats()
        return RegistryInfo(
            version=snapshot.version,
            targets=len(snapshot),
            vectors=stats.vectors,
            tombstones=stats.tombstones,
            index=stats.mode,
            rebuilding=stats.rebuilding,
            exact_limit=store.config.exact_limit,
            embedder=store.embedder.name,
            dim=store.embedder.dim,
            embedder_loaded=self._stores.embedder_loaded
            or not callable(getattr(store.embedder, "load", None)),
        )

    async def audit(
        self,
        *,
        target_id: str | None = None,
        request_id: str | None = None,
        technique: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> AuditList:
        """Enforcement events, oldest first, filtered; an empty page when there is no log."""
        store = self.store()
        if store.audit is None:
            return AuditList(data=[], next_cursor=None)
        query = AuditQuery(
            target_id=target_id,
            request_id=request_id,
            technique=technique,
            since=_utc(since),
            until=_utc(until),
            after=_audit_cursor(cursor),
            limit=limit,
        )
        page = await run_blocking(store.audit.query, query)
        next_cursor = None if page.next_cursor is None else str(page.next_cursor)
        return AuditList(data=[AuditEventOut.of(e) for e in page.events], next_cursor=next_cursor)
