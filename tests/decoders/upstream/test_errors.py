"""Upstream failures as Lethe errors (and so as the gateway's HTTP status), secrets scrubbed."""

from __future__ import annotations

import json

import httpx
import pytest

from lethe.decoders.upstream.errors import (
    UNREACHABLE,
    in_band_error,
    redact,
    status_error,
    transport_error,
)
from lethe.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    LetheError,
    Overloaded,
    Timeout,
    UpstreamError,
)
from lethe.gateway.errors import kind_of

KEY = "sk-live-0123456789abcdef"
SECRETS = (KEY, "proxyuser", "proxypass")


def body(message: str, **fields: object) -> bytes:
    return json.dumps({"error": {"message": message, **fields}}).encode()


@pytest.mark.parametrize(
    ("status", "content", "cls", "http", "kept"),
    [
        (400, body("n must be at most 4", param="n"), InvalidRequest, 400, "n must be at most 4"),
        (422, b'{"detail": "bad field"}', InvalidRequest, 400, "bad field"),
        (413, b"too big", InvalidRequest, 400, "too big"),
        (400, body("This model's maximum context length is 2048 tokens."),
         ContextLengthExceeded, 400, "maximum context length is 2048"),
        (400, body("prompt too long", code="context_length_exceeded"),
         ContextLengthExceeded, 400, "prompt too long"),
        (408, b"", Timeout, 504, "HTTP 408"),
        (504, b"gateway timeout", Timeout, 504, "gateway timeout"),
        (429, body("slow down"), Overloaded, 429, "slow down"),
        (500, body("CUDA out of memory"), UpstreamError, 502, "CUDA out of memory"),
        (503, b"<html>loading</html>", UpstreamError, 502, "<html>loading</html>"),
        (409, body("conflict"), UpstreamError, 502, "conflict"),
        (404, body("model 'x' not found"), UpstreamError, 502, "check upstream_url"),
        (401, body(f"Incorrect API key provided: {KEY}"), UpstreamError, 502, "upstream_api_key"),
    ],
)  # fmt: skip
def test_status_errors(
    status: int, content: bytes, cls: type[LetheError], http: int, kept: str
) -> None:
    error = status_error(status, content, "m", SECRETS)
    assert type(error) is cls
    assert kind_of(error).status == http
    assert kept in error.message
    assert KEY not in error.message


def test_the_upstream_message_keeps_its_param() -> None:
    error = status_error(400, body("bad top_p", param="top_p"), "m", ())
    assert (error.message, error.param) == ("bad top_p", "top_p")


@pytest.mark.parametrize(
    "message",
    [
        f"invalid key {KEY}",
        "invalid key sk-abc***************xyz",
        "header was Bearer abc.def.ghi",
        "proxy http://proxyuser:proxypass@10.0.0.1/v1 refused",
    ],
)
def test_credentials_never_reach_a_message(message: str) -> None:
    error = status_error(500, body(message), "m", SECRETS)
    for secret in (KEY, "sk-abc", "abc.def.ghi", "proxyuser", "proxypass"):
        assert secret not in error.message
    assert "[redacted]" in error.message


def test_a_401_message_is_not_passed_on_at_all() -> None:
    error = status_error(401, body("your organisation org-123 has no access"), "m", ())
    assert "org-123" not in error.message


def test_long_messages_are_cut() -> None:
    assert len(status_error(500, body("x" * 5000), "m", ()).message) < 1100


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        ({"message": "bad", "type": "BadRequestError", "code": 400}, InvalidRequest),  # vLLM
        ({"message": "slow", "type": "timeout_error", "code": "timeout"}, Timeout),  # Lethe
        ({"message": "full", "type": "rate_limit_error"}, Overloaded),
        ({"message": "boom", "type": "server_error", "code": "internal_error"}, UpstreamError),
        ("a bare string", UpstreamError),
    ],
)
def test_in_band_errors(error: object, cls: type[LetheError]) -> None:
    assert type(in_band_error(error, "m", ())) is cls


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        (httpx.ConnectError("refused"), UpstreamError, UNREACHABLE),
        (httpx.ConnectTimeout("slow connect"), UpstreamError, UNREACHABLE),
        (httpx.PoolTimeout("pool"), Overloaded, "overloaded"),
        (httpx.ReadTimeout("silence"), Timeout, "timeout"),
        (httpx.WriteTimeout("silence"), Timeout, "timeout"),
        (httpx.RemoteProtocolError("peer closed"), UpstreamError, "upstream_error"),
        (httpx.ReadError("reset"), UpstreamError, "upstream_error"),
    ],
)
def test_transport_errors(exc: httpx.HTTPError, cls: type[LetheError], code: str) -> None:
    error = transport_error(exc, attempts=3, read_timeout_s=30)
    assert (type(error), error.code) == (cls, code)


def test_redact_leaves_ordinary_text_alone() -> None:
    assert redact("the task is risky", ["abc"]) == "the task is risky"
