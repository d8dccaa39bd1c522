"""The error mapping: every LetheError class to a status, an envelope type and a code."""

from __future__ import annotations

import pytest

from lethe.errors import (
    ConfigurationError,
    Conflict,
    ContextLengthExceeded,
    EngineError,
    InvalidRequest,
    LetheError,
    NotFound,
    Overloaded,
    Unavailable,
    UnsupportedFeature,
)
from lethe.gateway.errors import (
    AuthenticationError,
    BodyTooLarge,
    Timeout,
    envelope,
    error_event,
    field_path,
)


@pytest.mark.parametrize(
    ("exc", "status", "kind", "code"),
    [
        (InvalidRequest("bad", param="n"), 400, "invalid_request_error", "invalid_request"),
        (ContextLengthExceeded("long"), 400, "invalid_request_error", "context_length_exceeded"),
        (UnsupportedFeature("tools"), 400, "invalid_request_error", "unsupported_feature"),
        (AuthenticationError("no key"), 401, "authentication_error", "invalid_api_key"),
        (NotFound("m", code="model_not_found"), 404, "not_found_error", "model_not_found"),
        (Conflict("exists"), 409, "conflict_error", "conflict"),
        (Overloaded("full"), 429, "rate_limit_error", "overloaded"),
        (Unavailable("loading"), 503, "service_unavailable_error", "unavailable"),
        (Timeout("slow"), 504, "timeout_error", "timeout"),
        (EngineError("oom"), 500, "server_error", "internal_error"),
        (ConfigurationError("bad"), 500, "server_error", "internal_error"),
        (LetheError("root"), 500, "server_error", "internal_error"),
        (ValueError("bug"), 500, "server_error", "internal_error"),
        (BodyTooLarge(10), 413, "invalid_request_error", "request_too_large"),
    ],
)
def test_mapping(exc: Exception, status: int, kind: str, code: str) -> None:
    got_status, body, _ = envelope(exc, "req-9")
    assert (got_status, body.error.type, body.error.code) == (status, kind, code)
    if status == 500:
        assert str(exc) not in body.error.message and "req-9" in body.error.message
    else:
        assert body.error.message


def test_param_is_passed_through() -> None:
    assert envelope(InvalidRequest("x", param="top_p"), "r")[1].error.param == "top_p"


def test_retry_after_headers() -> None:
    assert envelope(Overloaded("full"), "r")[2] == {"Retry-After": "1"}
    assert envelope(InvalidRequest("x"), "r")[2] == {}


def test_in_band_event_is_the_envelope() -> None:
    assert error_event(UnsupportedFeature("no", param="tools"), "r") == (
        '{"error":{"message":"no","type":"invalid_request_error","param":"tools",'
        '"code":"unsupported_feature"}}'
    )


@pytest.mark.parametrize(
    ("loc", "param"),
    [
        (("body", "temperature"), "temperature"),
        (("body", "stop", "list[str]", 0), "stop[0]"),
        (
            ("body", "messages", 2, "content", "list[ContentPart]", 1, "text"),
            "messages[2].content[1].text",
        ),
        (("body", "logit_bias", "123"), "logit_bias"),
        (("body",), None),
    ],
)
def test_field_path(loc: tuple[int | str, ...], param: str | None) -> None:
    assert field_path(loc) == param
