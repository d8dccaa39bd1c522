"""The one place where errors become HTTP: status codes and OpenAI's error envelope.

    LetheError (lethe.errors)            status  type (code)
     ├── InvalidRequest                  400     invalid_request_error
     │    ├── ContextLengthExceeded      400     invalid_request_error (context_length_exceeded)
     │    ├── UnsupportedFeature         400     invalid_request_error (unsupported_feature)
     │    └── InvalidTarget (below)      422     invalid_request_error (invalid_target)
     ├── AuthenticationError             401     authentication_error (invalid_api_key)
     ├── PermissionDenied                403     permission_error
     ├── NotFound                        404     not_found_error (model_not_found for models)
     ├── Conflict                        409     conflict_error
     ├── Overloaded                      429     rate_limit_error, Retry-After
     ├── Unavailable                     503     service_unavailable_error, Retry-After
     ├── Timeout                         504     timeout_error
     ├── UpstreamError                   502     upstream_error (the upstream server failed)
     └── ConfigurationError, EngineError 500     server_error (generic message; logged)
    RequestValidationError (pydantic)    400     invalid_request_error (param = field path)
    HTTPException (routing, body size)   404 / 405 / 413 in the envelope
    any other exception                  500     server_error (generic message; logged)

Example:
    >>> from lethe.errors import Overloaded
    >>> status, body, headers = envelope(Overloaded("queue full"), "req-1")
    >>> status, body.error.type, headers["Retry-After"]
    (429, 'rate_limit_error', '1')
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from lethe.errors import (
    AuthenticationError,
    Conflict,
    InvalidRequest,
    LetheError,
    NotFound,
    Overloaded,
    PermissionDenied,
    Timeout,
    Unavailable,
    UpstreamError,
)
from lethe.gateway.logs import kv
from lethe.gateway.protocol import ErrorBody, ErrorResponse, request_field_names

logger = logging.getLogger(__name__)

CLIENT_CLOSED_REQUEST = 499
"""Status logged for a request whose client went away (nginx's convention; never sent)."""


class BodyTooLarge(HTTPException):
    """The request body is larger than ``max_body_bytes`` (an HTTPException so that FastAPI's
    body parsing lets it through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


class InvalidTarget(InvalidRequest):
    """A forget target, or a patch of one, fails validation (admin API: HTTP 422, ``param``
    names the field, e.g. ``content.3.answer``)."""

    default_code = "invalid_target"


class ClientDisconnected(Exception):
    """The client closed the connection before the response was ready."""


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """How one error class is shown to clients."""

    status: int
    type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    expose: bool = True


_SERVER_ERROR = ErrorKind(500, "server_error", expose=False)
_KINDS: dict[type[LetheError], ErrorKind] = {
    InvalidRequest: ErrorKind(400, "invalid_request_error"),
    InvalidTarget: ErrorKind(422, "invalid_request_error"),
    AuthenticationError: ErrorKind(401, "authentication_error", {"WWW-Authenticate": "Bearer"}),
    PermissionDenied: ErrorKind(403, "permission_error"),
    NotFound: ErrorKind(404, "not_found_error"),
    Conflict: ErrorKind(409, "conflict_error"),
    Overloaded: ErrorKind(429, "rate_limit_error", {"Retry-After": "1"}),
    Unavailable: ErrorKind(503, "service_unavailable_error", {"Retry-After": "1"}),
    Timeout: ErrorKind(504, "timeout_error"),
    UpstreamError: ErrorKind(502, "upstream_error"),
}
_HTTP_CODES = {404: "unknown_url", 405: "method_not_allowed", 413: "request_too_large"}


def kind_of(exc: BaseException) -> ErrorKind:
    """The :class:`ErrorKind` of the nearest mapped class in ``exc``'s MRO; 500 otherwise."""
    for cls in type(exc).__mro__:
        if cls in _KINDS:
            return _KINDS[cls]
    return _SERVER_ERROR


def envelope(exc: BaseException, request_id: str) -> tuple[int, ErrorResponse, Mapping[str, str]]:
    """Status, envelope and headers for ``exc``; unexposed errors are logged, not shown."""
    if isinstance(exc, HTTPException):
        return _http_envelope(exc.status_code, str(exc.detail), exc.headers or {})
    kind = kind_of(exc)
    if kind.expose and isinstance(exc, LetheError):
        body = ErrorBody(message=exc.message, type=kind.type, param=exc.param, code=exc.code)
        return kind.status, ErrorResponse(error=body), kind.headers
    logger.error(kv("error", request_id=request_id, error=type(exc).__name__), exc_info=exc)
    message = (
        "The server had an error while processing your request. "
        f"Quote request id {request_id} when reporting it."
    )
    body = ErrorBody(message=message, type=kind.type, code="internal_error")
    return kind.status, ErrorResponse(error=body), kind.headers


def json_error(
    status: int, body: ErrorResponse, headers: Mapping[str, str] | None = None
) -> Response:
    """An error envelope as an HTTP response."""
    return Response(
        body.model_dump_json(), status, headers=dict(headers or {}), media_type="application/json"
    )


def error_response(exc: BaseException, request_id: str) -> Response:
    """The HTTP response for any exception."""
    return json_error(*envelope(exc, request_id))


def error_event(exc: BaseException, request_id: str) -> str:
    """The in-band SSE payload for an error after the first byte: ``{"error": {...}}``."""
    return envelope(exc, request_id)[1].model_dump_json()


def field_path(loc: tuple[int | str, ...]) -> str | None:
    """OpenAI's ``param`` for a pydantic error location: ``messages[0].content``.

    The leading ``body``/``query``/``path`` part, pydantic's union-member tags (``str``,
    ``list[int]``) and dict keys are left out.
    """
    known = request_field_names()
    path = ""
    for part in loc[1:]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in known:
            path += f".{part}" if path else part
    return path or None


def _validation_body(exc: RequestValidationError) -> ErrorBody:
    errors = list(exc.errors())
    first = errors[0]
    if first["type"] == "json_invalid":
        detail = first.get("ctx", {}).get("error", "invalid JSON")
        message = f"We could not parse the JSON body of your request: {detail}."
        return ErrorBody(message=message, type="invalid_request_error", code="invalid_json")
    siblings = [e for e in errors if e["loc"][:2] == first["loc"][:2]]
    deepest = max(siblings, key=lambda e: len(e["loc"]))
    param = field_path(tuple(deepest["loc"]))
    if param is None:
        message = "The request body must be a JSON object (Content-Type: application/json)."
    elif deepest["type"] == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid value for '{param}': {deepest['msg']}."
    return ErrorBody(
        message=message,
        type="invalid_request_error",
        param=param,
        code="invalid_value" if param else "invalid_body",
    )


def request_id_of(request: Request) -> str:
    """The request id the request-context middleware assigned ("-" outside it)."""
    context = getattr(request.state, "request_context", None)
    return context.request_id if context is not None else "-"


async def _lethe_error(request: Request, exc: Exception) -> Response:
    return error_response(exc, request_id_of(request))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return json_error(400, ErrorResponse(error=_validation_body(exc)))


def _http_envelope(
    status: int, message: str, headers: Mapping[str, str]
) -> tuple[int, ErrorResponse, Mapping[str, str]]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = ErrorBody(message=message, type=kind, code=_HTTP_CODES.get(status))
    return status, ErrorResponse(error=body), headers


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status == 404:
        message = f"Unknown request URL: {request.method} {request.url.path}."
    elif status == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    return json_error(*_http_envelope(status, message, exc.headers or {}))


async def _disconnected(request: Request, exc: Exception) -> Response:
    return Response(status_code=CLIENT_CLOSED_REQUEST)


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler above on ``app`` (unexpected exceptions are caught by the
    request-context middleware, which uses :func:`error_response` too)."""
    app.add_exception_handler(LetheError, _lethe_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientDisconnected, _disconnected)
