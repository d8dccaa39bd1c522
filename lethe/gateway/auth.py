"""API keys of the OpenAI API: ``Authorization: Bearer <key>``, one of ``settings.api_keys``;
and the admin key of the admin API (see :mod:`lethe.gateway.serving.admin_access`).

With no keys configured the API is open (the embedded default on 127.0.0.1). Keys are compared
in constant time.

Example:
    >>> router = APIRouter(dependencies=[Depends(require_api_key)])   # doctest: +SKIP
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lethe.errors import AuthenticationError
from lethe.gateway.dependencies import RuntimeDep
from lethe.gateway.request_context import RequestContext, request_context
from lethe.gateway.unlearning import Trace

DEBUG_HEADER = "x-lethe-debug"
ADMIN_KEY_HEADER = "x-lethe-admin-key"

bearer = HTTPBearer(auto_error=False, description="One of the server's API keys.")
admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminKey",
    description="The server's admin key (LETHE_ADMIN_KEY); chat API keys are refused (403).",
)


def key_matches(given: str, keys: list[str]) -> bool:
    """True when ``given`` is one of ``keys`` (constant time per key)."""
    return any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)


async def require_api_key(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ctx: Annotated[RequestContext, Depends(request_context)],
) -> None:
    """401 ``invalid_api_key`` unless the request carries a valid key (when keys are set);
    a tenant's key puts the request in that tenant's scope."""
    settings = runtime.settings
    keys = settings.chat_keys
    if not keys:
        return
    if credentials is None:
        raise AuthenticationError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    given = credentials.credentials
    if not key_matches(given, keys):
        raise AuthenticationError("Incorrect API key provided.")
    ctx.tenant = next((t for k, t in settings.tenant_keys.items() if key_matches(given, [k])), None)


async def debug_view(
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[RequestContext, Depends(request_context)],
) -> None:
    """``X-Lethe-Debug: 1`` with ``X-Lethe-Admin-Key: <admin key>`` turns on the operator's
    debug view of one request (which targets were in scope, which techniques fired); the
    admin key rules apply (401 without it, 403 with a chat key)."""
    if request.headers.get(DEBUG_HEADER, "").lower() not in ("1", "true", "yes"):
        return
    runtime.admin_access.check(request.headers.get(ADMIN_KEY_HEADER))
    ctx.trace = Trace()


async def require_admin(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> None:
    """401 without the admin key, 403 with a chat key (open on loopback without an admin key)."""
    runtime.admin_access.check(credentials.credentials if credentials is not None else None)
