"""HTTP-level behaviour the official client cannot produce: bad bodies, sizes, routes, headers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import MODEL
from tests.gateway.fakes import FakeEngine, Reply

CHAT = "/v1/chat/completions"
GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def assert_still_serving(http: httpx.Client) -> None:
    assert http.post(CHAT, json=GOOD).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL}, "messages"),
        ({"messages": GOOD["messages"]}, "model"),
        (
            {**GOOD, "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "messages[0].content[0].text",
        ),
        ({**GOOD, "stop": 5}, "stop"),
        ({**GOOD, "logit_bias": {"not-a-token": 1}}, "logit_bias"),
        ([1, 2, 3], None),
    ],
    ids=[
        "missing messages",
        "missing model",
        "text part not a string",
        "stop not a string",
        "logit_bias key",
        "body not an object",
    ],
)
def test_validation_errors_are_400(http: httpx.Client, body: object, param: str | None) -> None:
    response = http.post(CHAT, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert_still_serving(http)


def test_json_without_content_type_is_parsed(http: httpx.Client) -> None:
    response = http.post(CHAT, content=json.dumps(GOOD).encode())
    assert response.status_code == 200


def test_unexpected_exception_is_a_generic_500(http: httpx.Client, engine: FakeEngine) -> None:
    engine.enqueue(Reply(error=ZeroDivisionError("secret detail")))
    response = http.post(CHAT, json=GOOD, headers={"x-request-id": "bug-1"})
    assert response.status_code == 500
    error = error_of(response)
    assert error["type"] == "server_error" and "secret" not in error["message"]
    assert "bug-1" in error["message"] and response.headers["x-request-id"] == "bug-1"
    assert_still_serving(http)


def test_invalid_json_is_400(http: httpx.Client) -> None:
    response = http.post(
        CHAT, content=b'{"model": "x", ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    assert_still_serving(http)


def test_declared_large_body_is_413(http: httpx.Client) -> None:
    response = http.post(
        CHAT, content=b"x" * (10 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    assert_still_serving(http)


def test_chunked_large_body_is_413(http: httpx.Client) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(160):  # 10 MiB in 64 KiB chunks, no Content-Length
            yield b" " * 65536

    try:
        response = http.post(CHAT, content=body(), headers={"content-type": "application/json"})
    except httpx.TransportError:
        pytest.fail("the server should answer 413, not drop the connection")
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    assert_still_serving(http)


def test_unknown_route_and_wrong_method(http: httpx.Client) -> None:
    missing = http.post("/v1/embeddings", json={})
    assert missing.status_code == 404 and error_of(missing)["code"] == "unknown_url"
    wrong = http.get(CHAT)
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


def test_request_id_is_honoured_sanitised_or_made(http: httpx.Client) -> None:
    assert (
        http.post(CHAT, json=GOOD, headers={"x-request-id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    dirty = http.post(CHAT, json=GOOD, headers={"x-request-id": 'a b"c=' + "x" * 500})
    assert dirty.headers["x-request-id"] == "abc" + "x" * 125
    made = http.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and made != http.get("/healthz").headers["x-request-id"]


def test_request_id_reaches_the_turn(http: httpx.Client, engine: FakeEngine) -> None:
    http.post(CHAT, json=GOOD, headers={"x-request-id": "trace-7"})
    assert engine.turns[0].request_id == "trace-7"


def test_stream_headers_and_frames(http: httpx.Client) -> None:
    with http.stream("POST", CHAT, json={**GOOD, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        text = response.read().decode()
    frames = text.split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    assert all(frame.startswith("data: {") for frame in frames[:-2])
    assert '"usage"' not in text  # only with stream_options.include_usage


def test_in_band_error_frame(http: httpx.Client, engine: FakeEngine) -> None:
    engine.enqueue(Reply(error_after=RuntimeError("boom")))
    with http.stream("POST", CHAT, json={**GOOD, "stream": True}) as response:
        assert response.status_code == 200
        frames = response.read().decode().split("\n\n")
    assert frames[-2] == "data: [DONE]"
    assert frames[-3].startswith('data: {"error": {') or frames[-3].startswith('data: {"error":{')
    assert "boom" not in frames[-3]


def test_error_before_first_chunk_is_a_status(http: httpx.Client) -> None:
    response = http.post(CHAT, json={**GOOD, "stream": True, "temperature": 9})
    assert response.status_code == 400
    assert error_of(response)["param"] == "temperature"


def test_disconnect_cancels_a_non_streamed_request(http: httpx.Client, engine: FakeEngine) -> None:
    engine.enqueue(Reply(choices=(tuple("x" for _ in range(200)),), delay_s=0.02))
    with pytest.raises(httpx.ReadTimeout):
        http.post(CHAT, json=GOOD, timeout=0.3)
    assert engine.cancelled.wait(5), "the engine iterator was not closed after the disconnect"


def test_disconnect_cancels_several_prompts(http: httpx.Client, engine: FakeEngine) -> None:
    slow = Reply(choices=(tuple("x" for _ in range(200)),), delay_s=0.02)
    engine.enqueue(slow, slow)
    body = {"model": MODEL, "prompt": ["a", "b"], "max_tokens": 200}
    with pytest.raises(httpx.ReadTimeout):
        http.post("/v1/completions", json=body, timeout=0.3)
    assert engine.cancelled.wait(5)


def test_missing_api_key_is_401(engine: FakeEngine) -> None:
    from lethe.gateway.app import create_app
    from tests.gateway.conftest import make_settings
    from tests.gateway.live import LiveServer

    with LiveServer(create_app(make_settings(api_keys=["k1"]), engine=FakeEngine())) as live:
        response = httpx.post(live.url + CHAT, json=GOOD)
        assert response.status_code == 401
        assert error_of(response)["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"] == "Bearer"
        assert httpx.get(live.url + "/healthz").status_code == 200  # probes need no key
