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

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lethe.errors import AuthenticationError
from lethe.gateway.dependencies import RuntimeDep

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
) -> None:
    """401 ``invalid_api_key`` unless the request carries a valid key (when keys are set)."""
    keys = runtime.settings.api_keys
    if not keys:
        return
    if credentials is None:
        raise AuthenticationError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'."
        )
    if not key_matches(credentials.credentials, keys):
        raise AuthenticationError("Incorrect API key provided.")


async def require_admin(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(admin_bearer)],
) -> None:
    """401 without the admin key, 403 with a chat key (open on loopback without an admin key)."""
    runtime.admin_access.check(credentials.credentials if credentials is not None else None)
