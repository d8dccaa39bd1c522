"""The admin API (``/admin/...``): forget targets, bulk import, scope lookups, registry, audit.

Thin routes over :class:`~lethe.gateway.serving.admin.AdminServing`. Every route needs the admin
key (``Authorization: Bearer <admin key>``; a chat key is a 403) and an open forget store (503
while it opens). Bodies that fail validation are 422 ``invalid_target`` naming the field
(:class:`AdminRoute` turns FastAPI's validation errors into that); malformed JSON is 400
``invalid_json``; bad query parameters are 400 ``invalid_value``. See docs/admin.md.

Example:
    $ curl -H "Authorization: Bearer $LETHE_ADMIN_KEY" http://127.0.0.1:8000/admin/targets \\
        -d '{"kind": "entity", "name": "Ada Quill"}'
    {"id":"tgt_5d1c...","version":1}
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from lethe.errors import InvalidRequest
from lethe.gateway.auth import require_admin
from lethe.gateway.dependencies import admin_serving, require_store
from lethe.gateway.errors import ClientDisconnected, InvalidTarget
from lethe.gateway.protocol import ErrorResponse
from lethe.gateway.protocol.admin import (
    MAX_PAGE_LIMIT,
    MAX_QUERY_LIMIT,
    MAX_SCOPE_K,
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
from lethe.gateway.serving.admin import AdminServing
from lethe.gateway.serving.admin import expected_version as conditional_version
from lethe.gateway.settings import Settings
from lethe.indices import ForgetTarget, TargetPatch
from lethe.indices.targets import MAX_TARGET_JSON_BYTES

IMPORT_PATH = "/admin/targets:import"
_UNION_TAGS = frozenset({"passage", "qa"})


def body_limits(settings: Settings) -> list[tuple[str, int]]:
    """Body limits of the admin paths: ``admin_import_max_bytes`` for the bulk import, room
    for one target of the largest allowed size on the others."""
    return [
        (IMPORT_PATH, settings.admin_import_max_bytes),
        ("/admin/", max(settings.max_body_bytes, MAX_TARGET_JSON_BYTES)),
    ]


def _path(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc[1:] if p not in _UNION_TAGS]
    return ".".join(parts) or None


def admin_error(exc: RequestValidationError, target_body: bool = True) -> InvalidRequest:
    """The admin API's error for a request FastAPI could not validate: 422 ``invalid_target``
    for a target or patch body, 400 otherwise."""
    errors = list(exc.errors())
    first = errors[0]
    if first["type"] == "json_invalid":
        detail = first.get("ctx", {}).get("error", "malformed")
        return InvalidRequest(f"The body is not valid JSON: {detail}.", code="invalid_json")
    param = _path(tuple(first["loc"]))
    if first["loc"][0] != "body" or not target_body:
        return InvalidRequest(
            f"Invalid value for '{param}': {first['msg']}.", param=param, code="invalid_value"
        )
    body = [e for e in errors if e["loc"][:1] == ("body",)]
    message = "; ".join(f"{_path(tuple(e['loc'])) or 'body'}: {e['msg']}" for e in body[:3])
    if len(body) > 3:
        message += f" (and {len(body) - 3} more)"
    return InvalidTarget(message, param=param)


class AdminRoute(APIRoute):
    """An APIRoute whose validation errors become the admin API's own errors (422 for bodies)."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        target_body = "/targets" in self.path

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise admin_error(exc, target_body) from None

        return route


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Malformed JSON or an invalid query parameter",
        401: "Missing or wrong admin key",
        403: "A chat API key, not the admin key",
        404: "No such target",
        409: "The id exists already, or the target changed since If-Match",
        413: "Body too large",
        422: "The target (or patch) fails validation; `param` names the field",
        503: "The forget registry is still opening",
    }.items()
}


def admin_router() -> APIRouter:
    """A router under ``/admin``: the admin key, an open store, the admin API's errors."""
    return APIRouter(
        prefix="/admin",
        tags=["admin"],
        dependencies=[Depends(require_admin), Depends(require_store)],
        responses=ERRORS,
        route_class=AdminRoute,
    )


router = admin_router()
Serving = Annotated[AdminServing, Depends(admin_serving)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The target's version")]
Expected = Annotated[int | None, Query(ge=0, description="Alternative to If-Match")]


def json_response(body: BaseModel, status: int = 200, etag: int | None = None) -> Response:
    """A pydantic body as JSON; ``etag`` sets the ``ETag`` header to the version."""
    headers = {"ETag": f'"{etag}"'} if etag is not None else None
    return Response(body.model_dump_json(), status, headers, media_type="application/json")


@router.post("/targets", status_code=201, response_model=TargetCreated)
async def create_target(target: ForgetTarget, serving: Serving) -> Response:
    """Add a forget target; answers once it is searchable. The id is generated when absent."""
    created = await serving.add(target)
    return json_response(created, 201, etag=created.version)


async def _body_chunks(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise ClientDisconnected() from None


@router.post(
    "/targets:import",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "JSONL: one forget target (the POST /admin/targets body) per line.",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
async def import_targets(request: Request, serving: Serving) -> Response:
    """Bulk import from a streamed JSONL body; bad lines are reported, good ones added."""
    return json_response(await serving.import_jsonl(_body_chunks(request)))


@router.get("/targets", response_model=TargetList)
async def list_targets(
    serving: Serving,
    kind: str | None = None,
    scope: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = 100,
) -> Response:
    """List targets in id order, ``limit`` per page; filter by ``kind`` and ``scope``."""
    page = await serving.list(kind=kind, scope=scope, cursor=cursor, limit=limit)
    return json_response(page)


@router.get("/targets/{target_id}", response_model=StoredTargetOut)
async def get_target(target_id: str, serving: Serving) -> Response:
    """One target with its version (also its ``ETag``)."""
    stored = await serving.get(target_id)
    return json_response(stored, etag=stored.version)


@router.patch("/targets/{target_id}", response_model=StoredTargetOut)
async def patch_target(
    target_id: str,
    patch: TargetPatch,
    serving: Serving,
    if_match: IfMatch = None,
    expected_version: Expected = None,
) -> Response:
    """Change some fields; ``If-Match``/``expected_version`` make it conditional (409)."""
    expected = conditional_version(if_match, expected_version)
    stored = await serving.patch(target_id, patch, expected)
    return json_response(stored, etag=stored.version)


@router.delete("/targets/{target_id}", response_model=TargetDeleted)
async def delete_target(
    target_id: str,
    serving: Serving,
    if_match: IfMatch = None,
    expected_version: Expected = None,
) -> Response:
    """Delete a target; it no longer matches any request when this answers."""
    expected = conditional_version(if_match, expected_version)
    return json_response(await serving.delete(target_id, expected))


@router.get("/scope", response_model=ScopeAnswer)
async def scope_get(
    serving: Serving,
    text: Annotated[str, Query(min_length=1)],
    tenant: str | None = None,
    k: Annotated[int, Query(ge=1, le=MAX_SCOPE_K)] = 10,
) -> Response:
    """The targets ``text`` would hit: lexical spans and semantic scores (a debugging aid)."""
    return json_response(await serving.scope(ScopeQuery(text=text, tenant=tenant, k=k)))


@router.post("/scope", response_model=ScopeAnswer)
async def scope_post(query: Annotated[ScopeQuery, Body()], serving: Serving) -> Response:
    """``GET /admin/scope`` for texts too long for a URL."""
    return json_response(await serving.scope(query))


@router.get("/registry", response_model=RegistryInfo)
async def registry(serving: Serving) -> Response:
    """The served registry version and what the indices hold."""
    return json_response(serving.registry())


@router.get("/audit", response_model=AuditList)
async def audit(
    serving: Serving,
    target_id: str | None = None,
    request_id: str | None = None,
    technique: str | None = None,
    since: Annotated[datetime | None, Query(description="ISO time, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO time, exclusive")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUERY_LIMIT)] = 100,
) -> Response:
    """Enforcement events, oldest first (no message text unless ``audit_bodies`` is on)."""
    page = await serving.audit(
        target_id=target_id,
        request_id=request_id,
        technique=technique,
        since=since,
        until=until,
        cursor=cursor,
        limit=limit,
    )
    return json_response(page)
