"""The admin API over real HTTP: targets CRUD, validation, auth, scope, registry, audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import httpx
import pytest

from lethe.gateway.app import create_app
from lethe.indices import AuditEvent, ForgetTarget, StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer
from tests.indices.fakes import HashingEmbedder

ADMIN_KEY = "admin-secret"
CHAT_KEY = "chat-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
_ids = count()


def new_id(prefix: str = "t") -> str:
    """A target id unique in this module (the tests share one store)."""
    return f"{prefix}{next(_ids)}"


def open_store(path: Path) -> TargetStore:
    """A store with the hashing embedder (no model), upkeep inline."""
    return TargetStore.open(path, HashingEmbedder(), config=StoreConfig(background=False))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetStore]:
    s = open_store(tmp_path_factory.mktemp("admin"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def admin(store: TargetStore) -> Iterator[httpx.Client]:
    settings = make_settings(admin_key=ADMIN_KEY, api_keys=[CHAT_KEY])
    with (
        LiveServer(create_app(settings, engine=FakeEngine(), store=store)) as live,
        httpx.Client(base_url=live.url, headers=ADMIN, timeout=10) as client,
    ):
        yield client


def add(admin: httpx.Client, **fields: object) -> dict:
    body = {"id": new_id(), "kind": "entity", **fields}
    response = admin.post("/admin/targets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def error_of(response: httpx.Response) -> dict:
    return response.json()["error"]


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({}, 401, "authentication_error"),
        ({"Authorization": "Bearer wrong"}, 401, "authentication_error"),
        ({"Authorization": f"Bearer {CHAT_KEY}"}, 403, "permission_error"),
        ({"Authorization": f"Basic {ADMIN_KEY}"}, 401, "authentication_error"),
        (ADMIN, 200, None),
    ],
)
def test_admin_key_is_required_and_chat_keys_are_refused(
    admin: httpx.Client, headers: dict, status: int, kind: str | None
) -> None:
    response = httpx.get(f"{admin.base_url}/admin/registry", headers=headers)
    assert response.status_code == status
    if kind is not None:
        assert error_of(response)["type"] == kind
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_admin_key_is_not_a_chat_key(admin: httpx.Client) -> None:
    response = httpx.get(f"{admin.base_url}/v1/models", headers=ADMIN)
    assert response.status_code == 401


def test_open_on_loopback_without_an_admin_key(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        app = create_app(make_settings(api_keys=[CHAT_KEY]), engine=FakeEngine(), store=store)
        with LiveServer(app) as live:
            assert httpx.get(f"{live.url}/admin/registry").status_code == 200
    finally:
        store.close()


def test_add_answers_once_searchable(admin: httpx.Client) -> None:
    response = admin.post("/admin/targets", json={"kind": "entity", "name": "Orla Venn"})
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "version"} and created["id"].startswith("tgt_")
    assert response.headers["etag"] == f'"{created["version"]}"'
    hits = admin.get("/admin/scope", params={"text": "Who is Orla Venn?"}).json()["hits"]
    assert created["id"] in [h["target_id"] for h in hits]


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"kind": "entity", "name": ""}, 422, "invalid_target", "name"),
        ({"kind": "entity"}, 422, "invalid_target", "name"),
        ({"kind": "person", "name": "Ada Quill"}, 422, "invalid_target", "kind"),
        (
            {"kind": "fact", "name": "Ada Quill", "content": [{"question": "Where?"}]},
            422,
            "invalid_target",
            "content.0.answer",
        ),
        ({"kind": "entity", "name": "Ada Quill", "colour": 1}, 422, "invalid_target", "colour"),
        (
            {"kind": "entity", "name": "Ada Quill", "aliases": ["?"]},
            422,
            "invalid_target",
            "aliases.0",
        ),
        (
            {"kind": "entity", "name": "Ada Quill", "expires_at": "2001-01-01T00:00:00Z"},
            422,
            "invalid_target",
            "expires_at",
        ),
        (b"{not json", 400, "invalid_json", None),
    ],
)
def test_invalid_targets_are_422_naming_the_field(
    admin: httpx.Client, body: object, status: int, code: str, param: str | None
) -> None:
    if isinstance(body, bytes):
        response = admin.post("/admin/targets", content=body)
    else:
        response = admin.post("/admin/targets", json=body)
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    if param is not None:
        assert error["message"].startswith(param)  # the message names the field too


def test_duplicate_id_is_409(admin: httpx.Client) -> None:
    created = add(admin, name="Bram Tolle")
    again = admin.post("/admin/targets", json={"id": created["id"], "kind": "topic", "name": "X1"})
    assert again.status_code == 409
    assert error_of(again)["type"] == "conflict_error" and error_of(again)["param"] == "id"


def test_get_returns_the_target_with_its_version(admin: httpx.Client) -> None:
    created = add(admin, name="Cato Ruel", aliases=["C. Ruel"], reason="erasure request")
    response = admin.get(f"/admin/targets/{created['id']}")
    target = response.json()
    assert response.headers["etag"] == f'"{created["version"]}"'
    assert target["version"] == created["version"] and target["aliases"] == ["C. Ruel"]
    assert target["reason"] == "erasure request" and target["created_at"] is not None
    missing = admin.get("/admin/targets/nope")
    assert missing.status_code == 404 and error_of(missing)["type"] == "not_found_error"


def test_list_pages_and_filters(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    kinds = ["entity", "topic", "entity", "fact", "entity"]
    for i, kind in enumerate(kinds):
        scope = "acme" if i == 4 else "global"
        store.add(ForgetTarget(id=f"p{i}", kind=kind, name=f"Pagename {i}", scope=scope))
    settings = make_settings(admin_key=ADMIN_KEY)
    try:
        with LiveServer(create_app(settings, engine=FakeEngine(), store=store)) as live:
            seen, cursor, pages = [], None, 0
            while True:
                params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
                page = httpx.get(f"{live.url}/admin/targets", params=params, headers=ADMIN).json()
                seen += [t["id"] for t in page["data"]]
                pages += 1
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert (seen, pages, page["version"]) == ([f"p{i}" for i in range(5)], 3, 5)
            for params, expected in (
                ({"kind": "entity"}, ["p0", "p2", "p4"]),
                ({"scope": "acme"}, ["p4"]),
                ({"kind": "entity", "scope": "global"}, ["p0", "p2"]),
                ({"kind": "document"}, []),
            ):
                page = httpx.get(f"{live.url}/admin/targets", params=params, headers=ADMIN).json()
                assert [t["id"] for t in page["data"]] == expected, params
    finally:
        store.close()


@pytest.mark.parametrize("limit", ["0", "1001", "many"])
def test_bad_query_parameters_are_400_naming_them(admin: httpx.Client, limit: str) -> None:
    response = admin.get("/admin/targets", params={"limit": limit})
    assert response.status_code == 400
    assert (error_of(response)["param"], error_of(response)["code"]) == ("limit", "invalid_value")


def test_patch_changes_only_the_fields_sent(admin: httpx.Client) -> None:
    created = add(admin, name="Dara Mott", aliases=["D. Mott"], reason="r1")
    response = admin.patch(f"/admin/targets/{created['id']}", json={"aliases": ["Mott"]})
    patched = response.json()
    assert (patched["name"], patched["aliases"], patched["reason"]) == ("Dara Mott", ["Mott"], "r1")
    assert patched["version"] > created["version"]
    assert response.headers["etag"] == f'"{patched["version"]}"'
    hits = admin.get("/admin/scope", params={"text": "ask Mott"}).json()["hits"]
    assert created["id"] in [h["target_id"] for h in hits if h["lexical"]]


def test_conditional_patch_and_delete(admin: httpx.Client) -> None:
    created = add(admin, name="Edda Prinn")
    path = f"/admin/targets/{created['id']}"
    v1 = created["version"]
    ok = admin.patch(path, json={"reason": "a"}, headers={"If-Match": f'"{v1}"'})
    assert ok.status_code == 200
    v2 = ok.json()["version"]
    stale = admin.patch(path, json={"reason": "b"}, headers={"If-Match": f'"{v1}"'})
    assert stale.status_code == 409 and error_of(stale)["type"] == "conflict_error"
    stale = admin.patch(path, json={"reason": "b"}, params={"expected_version": v1})
    assert stale.status_code == 409
    weak = admin.patch(path, json={"reason": "c"}, headers={"If-Match": f'W/"{v2}"'})
    assert weak.status_code == 200
    v3 = weak.json()["version"]
    assert admin.delete(path, headers={"If-Match": f'"{v2}"'}).status_code == 409
    assert admin.delete(path, params={"expected_version": v3}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "params", "param"),
    [
        ({"If-Match": "soon"}, {}, "If-Match"),
        ({"If-Match": '"3"'}, {"expected_version": 4}, "expected_version"),
        ({}, {"expected_version": -1}, "expected_version"),
    ],
)
def test_bad_conditions_are_400(
    admin: httpx.Client, headers: dict, params: dict, param: str
) -> None:
    created = add(admin, name="Fenna Ost")
    response = admin.patch(
        f"/admin/targets/{created['id']}", json={"reason": "x"}, headers=headers, params=params
    )
    assert response.status_code == 400 and error_of(response)["param"] == param


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
        ({"kind": None}, "kind"),
        ({"policy": {"thresholds": {"semantic": 7}}}, "policy.thresholds.semantic"),
    ],
)
def test_invalid_patches_are_422(admin: httpx.Client, patch: dict, param: str) -> None:
    created = add(admin, name="Gale Urwin")
    response = admin.patch(f"/admin/targets/{created['id']}", json=patch)
    assert response.status_code == 422
    assert (error_of(response)["code"], error_of(response)["param"]) == ("invalid_target", param)


def test_patch_and_delete_of_unknown_targets_are_404(admin: httpx.Client) -> None:
    assert admin.patch("/admin/targets/ghost", json={"reason": "x"}).status_code == 404
    assert admin.delete("/admin/targets/ghost").status_code == 404


def test_delete_removes_it_from_lookups(admin: httpx.Client) -> None:
    created = add(admin, name="Hale Quorn")
    response = admin.delete(f"/admin/targets/{created['id']}")
    assert response.json() == {
        "id": created["id"],
        "deleted": True,
        "version": created["version"] + 1,
    }
    hits = admin.get("/admin/scope", params={"text": "Hale Quorn"}).json()["hits"]
    assert created["id"] not in [h["target_id"] for h in hits]
    assert admin.get(f"/admin/targets/{created['id']}").status_code == 404


def test_scope_shows_spans_scores_and_respects_tenants(admin: httpx.Client) -> None:
    ada = add(admin, name="Ilsa Varrow", aliases=["I. Varrow"], forbidden=["Tarnby"])
    acme = add(admin, name="Jory Stelk", scope="acme")
    text = "Did Ilsa Varrow move to Tarnby with Jory Stelk?"
    answer = admin.get("/admin/scope", params={"text": text}).json()
    assert answer["version"] >= acme["version"]
    hits = {h["target_id"]: h for h in answer["hits"]}
    assert acme["id"] not in hits  # another tenant's target
    hit = hits[ada["id"]]
    assert (hit["name"], hit["kind"], hit["scope"]) == ("Ilsa Varrow", "entity", "global")
    assert {m["kind"] for m in hit["lexical"]} == {"name", "forbidden"}
    for match in hit["lexical"]:
        assert text[match["start"] : match["end"]] == match["pattern"]
    assert isinstance(hit["semantic"], float) and hit["semantic_source"] == "name"
    tenant = admin.get("/admin/scope", params={"text": text, "tenant": "acme"}).json()
    assert acme["id"] in [h["target_id"] for h in tenant["hits"]]
    posted = admin.post("/admin/scope", json={"text": text, "k": 3}).json()
    assert {h["target_id"] for h in posted["hits"]} >= {ada["id"]}


@pytest.mark.parametrize(
    ("params", "param"), [({}, "text"), ({"text": "x", "k": 0}, "k"), ({"text": ""}, "text")]
)
def test_bad_scope_queries_are_400(admin: httpx.Client, params: dict, param: str) -> None:
    response = admin.get("/admin/scope", params=params)
    assert response.status_code == 400 and error_of(response)["param"] == param


def test_registry_reports_version_and_index(admin: httpx.Client, store: TargetStore) -> None:
    add(admin, name="Kell Arno")
    info = admin.get("/admin/registry").json()
    assert info["version"] == store.version and info["targets"] == len(store.snapshot)
    assert info["vectors"] >= info["targets"] and info["index"] == "flat"
    assert (info["embedder"], info["dim"], info["embedder_loaded"]) == ("hashing-test", 64, True)


def test_audit_filters_and_pages(admin: httpx.Client, store: TargetStore) -> None:
    assert store.audit is not None
    t0 = datetime.now(UTC) - timedelta(seconds=1)
    events = [
        AuditEvent(f"req-{i}", "aud-1" if i % 2 else "aud-2", "output_filter", "redact", 1,
                   {"spans": i}, body="secret text")
        for i in range(5)
    ]  # fmt: skip
    store.audit.record(events)
    page = admin.get("/admin/audit", params={"target_id": "aud-1"}).json()
    assert [e["request_id"] for e in page["data"]] == ["req-1", "req-3"]
    assert all(e["body"] is None for e in page["data"])  # bodies are not kept by default
    assert page["data"][0]["detail"] == {"spans": 1}
    one = admin.get("/admin/audit", params={"request_id": "req-4"}).json()["data"]
    assert [(e["target_id"], e["technique"], e["action"]) for e in one] == [
        ("aud-2", "output_filter", "redact")
    ]
    since = t0.isoformat()
    first = admin.get("/admin/audit", params={"since": since, "limit": 3}).json()
    rest = admin.get(
        "/admin/audit", params={"since": since, "limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [e["request_id"] for e in first["data"] + rest["data"]] == [f"req-{i}" for i in range(5)]
    assert rest["next_cursor"] is None
    future = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert admin.get("/admin/audit", params={"since": future}).json()["data"] == []
    bad = admin.get("/admin/audit", params={"cursor": "abc"})
    assert bad.status_code == 400 and error_of(bad)["param"] == "cursor"


def test_unknown_admin_route_is_404_in_the_envelope(admin: httpx.Client) -> None:
    response = admin.get("/admin/nothing")
    assert response.status_code == 404 and error_of(response)["code"] == "unknown_url"
