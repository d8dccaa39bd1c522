"""Identifiers the gateway hands out: request ids, completion ids, the system fingerprint.

Example:
    >>> sanitize_request_id("abc 123/../x") is None
    False
    >>> sanitize_request_id("abc 123/../x")
    'abc123..x'
    >>> new_completion_id("chatcmpl").startswith("chatcmpl-")
    True
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache

import lethe

MAX_REQUEST_ID_LENGTH = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


def sanitize_request_id(raw: str | None) -> str | None:
    """Keep only log-safe characters of a client's ``X-Request-Id``, bounded in length.

    Returns None when nothing usable is left, so the caller generates a fresh id. Log lines are
    key-value pairs, so spaces, quotes and ``=`` must never reach them from a client.
    """
    if not raw:
        return None
    cleaned = _UNSAFE.sub("", raw)[:MAX_REQUEST_ID_LENGTH]
    return cleaned or None


def new_request_id() -> str:
    """A fresh request id (32 hex digits)."""
    return uuid.uuid4().hex


def new_completion_id(prefix: str) -> str:
    """An OpenAI-style object id: ``chatcmpl-<hex>`` or ``cmpl-<hex>``."""
    return f"{prefix}-{uuid.uuid4().hex}"


@lru_cache(maxsize=16)
def system_fingerprint(model_id: str) -> str:
    """Stable per deployment: changes only when the Lethe version or the served model changes.

    Clients use ``system_fingerprint`` to tell whether two responses came from the same backend
    configuration (OpenAI's meaning of the field).
    """
    digest = hashlib.sha256(f"{lethe.__version__}:{model_id}".encode()).hexdigest()
    return f"fp_lethe_{digest[:10]}"
