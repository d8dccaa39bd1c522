"""The admin client against the admin contract (httpx MockTransport and the in-memory fake)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from lethe.gateway.replay.admin_client import AdminClient, AdminError
from lethe.indices import ForgetTarget

TARGETS = [
    ForgetTarget(id="a", kind="entity", name="Ada Quill"),
    ForgetTarget(id="b", kind="entity", name="Bo Marsh"),
    ForgetTarget(id="c", kind="entity", name="Cy Dorn"),
]


def client(handler: Callable[[httpx.Request], httpx.Response]) -> AdminClient:
    return AdminClient("http://gw/v1", "k", transport=httpx.MockTransport(handler))


def test_bulk_import_splits_created_and_preexisting():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        errors = [{"line": 2, "error": "target b already exists"}]
        return httpx.Response(
            200, json={"imported": 2, "failed": 1, "errors": errors, "version": 7}
        )

    loaded = client(handler).load_targets(TARGETS)
    assert (loaded.created, loaded.preexisting, loaded.version) == (("a", "c"), ("b",), 7)
    request = seen[0]
    assert request.url.path == "/admin/targets:import"  # /v1 stripped: the server root
    assert request.headers["authorization"] == "Bearer k"
    lines = [json.loads(x) for x in request.content.decode().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c"] and lines[0]["name"] == "Ada Quill"


def test_other_import_failures_raise():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"errors": [{"line": 3, "error": "name: too short"}]})

    with pytest.raises(AdminError, match="target 'c' was refused: name: too short"):
        client(handler).load_targets(TARGETS)


def test_falls_back_to_one_by_one_without_bulk_route():
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith(":import"):
            return httpx.Response(404, json={"error": {"message": "unknown url"}})
        body = json.loads(request.content)
        if body["id"] == "b":
            return httpx.Response(409, json={"error": {"message": "exists"}})
        return httpx.Response(201, json={"id": body["id"], "version": 3})

    loaded = client(handler).load_targets(TARGETS)
    assert loaded.created == ("a", "c") and loaded.preexisting == ("b",)
    assert paths[1:] == ["POST /admin/targets"] * 3


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"error": {"message": "no"}}, "admin key was refused"),
        (500, {"error": {"message": "disk full"}}, "HTTP 500: disk full"),
        (200, [1, 2], "expected a JSON object"),
    ],
)
def test_errors_are_one_line(status, body, message):
    with pytest.raises(AdminError, match=message):
        client(lambda r: httpx.Response(status, json=body)).registry()


def test_unreachable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(AdminError, match="unreachable"):
        client(handler).registry()


def test_remove_tolerates_missing_targets():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/b"):
            return httpx.Response(404, json={"error": {"message": "gone"}})
        return httpx.Response(200, json={"version": 9})

    assert client(handler).remove_targets(["a", "b"]) == 1


def test_scope_answer_is_parsed():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["text"] == "Who is Ada?"
        hits = [
            {"target_id": "a", "lexical": [{"start": 7}], "semantic": 0.8},
            {"target_id": "b", "lexical": [], "semantic": None},
        ]
        return httpx.Response(200, json={"version": 4, "hits": hits})

    answer = client(handler).scope("Who is Ada?")
    assert answer.version == 4
    assert [(h.target_id, h.lexical, h.semantic) for h in answer.hits] == [
        ("a", True, 0.8),
        ("b", False, None),
    ]


def test_patch_sends_the_body():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "PATCH" and request.url.path == "/admin/targets/a"
        return httpx.Response(200, json=json.loads(request.content))

    body = {"policy": {"thresholds": {"semantic": 0.5}}}
    assert client(handler).patch_target("a", body) == body
