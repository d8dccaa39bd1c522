"""The one error tree of Lethe.

Every layer raises these; only the gateway turns them into HTTP responses (the OpenAI error
envelope), in one place. Guards and engines never raise HTTP errors.

    LetheError
     ├── InvalidRequest            a request parameter is wrong (HTTP 400)
     │    ├── ContextLengthExceeded    prompt (+ max_tokens) does not fit the context window
     │    └── UnsupportedFeature       a valid OpenAI feature this deployment does not offer
     ├── AuthenticationError       no API key, or a wrong one (HTTP 401)
     ├── PermissionDenied          a valid key without the right to do this (HTTP 403)
     ├── NotFound                  an unknown model or object (HTTP 404)
     ├── Conflict                  the object exists already / version mismatch (HTTP 409)
     ├── Overloaded                the admission queue is full (HTTP 429)
     ├── Unavailable               not ready yet, or shutting down (HTTP 503)
     ├── Timeout                   the request ran past its deadline (HTTP 504)
     ├── UpstreamError             the upstream model server failed or is unreachable (HTTP 502)
     ├── ConfigurationError        a configuration that cannot work; raised at start-up
     └── EngineError               the model failed while generating (HTTP 500)

Example:
    >>> try:
    ...     raise InvalidRequest("temperature must be in [0, 2]", param="temperature")
    ... except LetheError as exc:
    ...     print(exc.param, exc)
    temperature temperature must be in [0, 2]
"""

from __future__ import annotations


class LetheError(Exception):
    """Root of every error Lethe raises on purpose.

    ``param`` names the offending request field (OpenAI's ``error.param``); ``code`` is a short
    machine-readable reason (OpenAI's ``error.code``).
    """

    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code


class InvalidRequest(LetheError):
    """A request parameter is missing, malformed or out of range."""

    default_code = "invalid_request"


class ContextLengthExceeded(InvalidRequest):
    """The prompt, or the prompt plus ``max_tokens``, does not fit the model's context window."""

    default_code = "context_length_exceeded"


class UnsupportedFeature(InvalidRequest):
    """An OpenAI feature (tools, response_format, image parts, ...) this deployment lacks."""

    default_code = "unsupported_feature"


class AuthenticationError(LetheError):
    """The request has no API key, or not a valid one."""

    default_code = "invalid_api_key"


class PermissionDenied(LetheError):
    """The key is valid but may not do this (a chat key on the admin API, say)."""

    default_code = "permission_denied"


class NotFound(LetheError):
    """The model or object named in the request does not exist."""

    default_code = "not_found"


class Conflict(LetheError):
    """The object already exists, or a concurrent change won."""

    default_code = "conflict"


class Overloaded(LetheError):
    """The admission queue is full; the client should retry later."""

    default_code = "overloaded"


class Unavailable(LetheError):
    """The service is not ready yet (model loading) or is shutting down."""

    default_code = "unavailable"


class Timeout(LetheError):
    """The request ran past its deadline."""

    default_code = "timeout"


class UpstreamError(LetheError):
    """The upstream model server (engine ``upstream``) failed, could not be reached, or refused
    Lethe's own credentials: the gateway is fine, what stands behind it is not. The message
    never holds the upstream's credentials."""

    default_code = "upstream_error"


class ConfigurationError(LetheError):
    """A configuration that cannot work (missing model file, engine lacks a capability)."""

    default_code = "configuration_error"


class EngineError(LetheError):
    """The model failed while generating."""

    default_code = "engine_error"
