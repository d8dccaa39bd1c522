"""The upstream's failures as Lethe errors, with the upstream's credentials scrubbed.

    upstream answer / failure                 Lethe error              HTTP to the client
    400, 413, 422                             InvalidRequest           400 (upstream message, param)
      ... about the context length            ContextLengthExceeded    400
    401, 403                                  UpstreamError            502 (Lethe's credentials)
    404                                       UpstreamError            502 (URL or model wrong)
    408, 504                                  Timeout                  504
    429                                       Overloaded               429
    5xx, other 4xx                            UpstreamError            502 (upstream message)
    connect error / timeout, after retries    UpstreamError            502
    no free pooled connection in time         Overloaded               429
    read or write timeout                     Timeout                  504
    connection broken mid-answer              UpstreamError            502
    ``{"error": ...}`` inside the stream       by its status or type    in-band error

Messages never carry the API key, a ``Bearer`` token, an ``sk-`` key the upstream echoes back
(masked or not), or the user-info of the upstream URL; the upstream's message after a 401/403
is not passed on at all (it is about Lethe's key, not the client's).

Example:
    >>> err = status_error(500, b'{"error": {"message": "bad key sk-abc123456789"}}', "m", ())
    >>> type(err).__name__, err.message
    ('UpstreamError', 'the upstream model server failed (HTTP 500): bad key [redacted]')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx

from lethe.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LetheError,
    Overloaded,
    Timeout,
    UpstreamError,
)

MAX_MESSAGE_CHARS = 1000
UNREACHABLE = "upstream_unreachable"
"""``code`` of the error for an upstream that could not be reached at all."""
_KEYS = re.compile(r"(?i)\bbearer\s+\S+|\bsk-[A-Za-z0-9_\-*.]{4,}")
_CONTEXT = re.compile(r"(?i)context length|context window|maximum context|too many tokens")
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "rate_limit_error": 429,
    "timeout_error": 504,
}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` without any of ``secrets``, bearer tokens or ``sk-`` keys.

    >>> redact("key abc123 or Bearer xyz", ["abc123"])
    'key [redacted] or [redacted]'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEYS.sub("[redacted]", text)


def upstream_message(body: bytes | str) -> tuple[str, str | None, str | None]:
    """``(message, param, code)`` from an error body in any of the usual shapes: OpenAI's
    ``{"error": {...}}``, ``{"error": "..."}``, ``{"message": ...}``, FastAPI's ``detail``.

    >>> upstream_message('{"error": {"message": "bad n", "param": "n", "code": 400}}')
    ('bad n', 'n', '400')
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text)
    except ValueError:
        return text.strip(), None, None
    if not isinstance(data, dict):
        return text.strip(), None, None
    error = data.get("error", data)
    if isinstance(error, str):
        return error, None, None
    if not isinstance(error, dict):
        return text.strip(), None, None
    message = error.get("message") or error.get("detail") or data.get("detail") or ""
    param, code = error.get("param"), error.get("code")
    return (
        message if isinstance(message, str) else json.dumps(message),
        param if isinstance(param, str) else None,
        str(code) if code is not None else None,
    )


def status_error(
    status: int, body: bytes | str, model: str | None, secrets: Iterable[str]
) -> LetheError:
    """The Lethe error for an upstream answer with HTTP ``status`` and error ``body``."""
    raw, param, code = upstream_message(body)
    message = redact(raw, secrets)[:MAX_MESSAGE_CHARS] or f"HTTP {status}"
    if status in (401, 403):
        return UpstreamError(
            f"the upstream model server refused Lethe's credentials (HTTP {status}); "
            "check upstream_api_key"
        )
    if status == 404:
        return UpstreamError(
            f"the upstream model server answered 404 (check upstream_url, which ends in /v1, "
            f"and upstream_model '{model}'): {message}"
        )
    if status in (400, 413, 422):
        if code == "context_length_exceeded" or _CONTEXT.search(message):
            return ContextLengthExceeded(message, param=param)
        return InvalidRequest(message, param=param)
    if status in (408, 504):
        return Timeout(f"the upstream model server timed out (HTTP {status}): {message}")
    if status == 429:
        return Overloaded(f"the upstream model server is overloaded: {message}")
    return UpstreamError(f"the upstream model server failed (HTTP {status}): {message}")


def in_band_error(error: Any, model: str | None, secrets: Iterable[str]) -> LetheError:
    """The Lethe error for an ``{"error": ...}`` frame inside the upstream's stream: by its
    numeric ``code`` (vLLM) or its ``type`` (OpenAI, Lethe), else a 502.

    >>> in_band_error({"message": "slow", "type": "timeout_error"}, "m", ()).message
    'the upstream model server timed out (HTTP 504): slow'
    """
    body = json.dumps({"error": error})
    status = 502
    if isinstance(error, dict):
        code, kind = error.get("code"), error.get("type")
        if isinstance(code, int) and 400 <= code < 600:
            status = code
        elif isinstance(kind, str):
            status = _STATUS_OF_TYPE.get(kind, 502)
    return status_error(status, body, model, secrets)


def transport_error(exc: httpx.HTTPError, *, attempts: int, read_timeout_s: float) -> LetheError:
    """The Lethe error for a failure to talk to the upstream at all (never its URL).

    >>> transport_error(httpx.ConnectError("refused"), attempts=3, read_timeout_s=1).message
    'the upstream model server could not be reached (ConnectError after 3 attempts)'
    """
    if isinstance(exc, httpx.PoolTimeout):
        return Overloaded("too many requests are waiting for the upstream model server")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return UpstreamError(
            f"the upstream model server could not be reached ({type(exc).__name__} after "
            f"{attempts} attempt{'s' if attempts > 1 else ''})",
            code=UNREACHABLE,
        )
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(f"the upstream model server sent nothing for {read_timeout_s:g} s")
    return UpstreamError(
        f"the connection to the upstream model server failed ({type(exc).__name__})"
    )
