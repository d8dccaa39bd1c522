"""The app factory and its lifespan: background load, readiness, shutdown, failed loads."""

from __future__ import annotations

import gc
import threading
import time

from starlette.testclient import TestClient

from lethe.gateway.app import create_app
from tests.gateway.conftest import MODEL, make_settings
from tests.gateway.fakes import FakeEngine

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def wait_for(predicate: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_create_app_does_no_work() -> None:
    engine = FakeEngine()
    create_app(make_settings(), engine=engine)
    assert not engine.ready and not engine.closed


def test_unavailable_until_loaded_then_ready() -> None:
    gate = threading.Event()
    engine = FakeEngine(model_id=MODEL, load_gate=gate)
    with TestClient(create_app(make_settings(), engine=engine)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["error"]["type"] == "service_unavailable_error"
        early = client.post("/v1/chat/completions", json=CHAT)
        assert early.status_code == 503 and early.headers["retry-after"] == "1"
        assert client.get("/v1/models").status_code == 503
        gate.set()
        assert wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.get("/readyz").json() == {
            "status": "ready",
            "model": MODEL,
            "registry_version": 0,
        }
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.get("/v1/models").json()["data"][0]["created"] > 0
    assert engine.closed


def test_failed_load_fails_liveness() -> None:
    engine = FakeEngine(load_error=RuntimeError("weights are corrupt"))
    with TestClient(create_app(make_settings(), engine=engine)) as client:
        assert wait_for(lambda: client.get("/healthz").status_code == 503)
        body = client.get("/readyz").json()["error"]
        assert "failed to load" in body["message"] and "corrupt" not in body["message"]


def test_dependency_overrides_replace_a_serving_class() -> None:
    from lethe.gateway.dependencies import model_serving
    from lethe.gateway.protocol import ModelCard, ModelList

    class OneModel:
        def list(self) -> ModelList:
            return ModelList(data=[ModelCard(id="override", created=1)])

    app = create_app(make_settings(), engine=FakeEngine())
    app.dependency_overrides[model_serving] = OneModel
    with TestClient(app) as client:
        assert wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.get("/v1/models").json()["data"][0]["id"] == "override"


def test_access_log_line(caplog: object) -> None:
    import logging

    engine = FakeEngine(model_id=MODEL)
    with TestClient(create_app(make_settings(), engine=engine)) as client:
        assert wait_for(lambda: client.get("/readyz").status_code == 200)
        with caplog.at_level(logging.INFO, logger="lethe"):  # type: ignore[attr-defined]
            client.post(
                "/v1/chat/completions",
                json={**CHAT, "secret_field": "s3cr3t"},
                headers={"x-request-id": "log-1"},
            )
    lines = [r.getMessage() for r in caplog.records]  # type: ignore[attr-defined]
    [access] = [line for line in lines if line.startswith("event=request ")]
    for part in (
        "method=POST",
        "route=/v1/chat/completions",
        "status=200",
        "prompt_tokens=1",
        "completion_tokens=2",
        "duration_ms=",
        "request_id=log-1",
    ):
        assert part in access
    assert any("event=unknown_fields" in x and "fields=secret_field" in x for x in lines)
    assert not any("s3cr3t" in line for line in lines)  # values are never logged


def test_freeze_heap_freezes_once_loaded() -> None:
    """``lethe serve`` freezes the start-up heap after the model and the store loaded; an app
    built without ``freeze_heap`` (tests, embedders) leaves the collector alone."""
    gc.unfreeze()
    with TestClient(create_app(make_settings(), engine=FakeEngine())) as client:
        assert wait_for(lambda: client.get("/readyz").status_code == 200)
        time.sleep(0.1)
        assert gc.get_freeze_count() == 0
    gate = threading.Event()
    engine = FakeEngine(model_id=MODEL, load_gate=gate)
    try:
        with TestClient(create_app(make_settings(), engine=engine, freeze_heap=True)) as client:
            time.sleep(0.1)
            assert gc.get_freeze_count() == 0  # not while the model still loads
            gate.set()
            assert wait_for(lambda: gc.get_freeze_count() > 0)
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    finally:
        gc.unfreeze()


def test_a_replica_that_cannot_follow_its_registry_goes_not_ready(tmp_path: object) -> None:
    from lethe.indices import StoreConfig, TargetStore
    from tests.indices.fakes import HashingEmbedder

    store = TargetStore.open(tmp_path, HashingEmbedder(), config=StoreConfig())  # type: ignore[arg-type]
    healthy_refresh = store.refresh
    broken = threading.Event()

    def refresh() -> int:
        if broken.is_set():
            raise OSError("registry unreachable")
        return healthy_refresh()

    store.refresh = refresh  # type: ignore[method-assign]
    settings = make_settings(registry_poll_s=0.02, registry_stale_s=0.3)
    try:
        with TestClient(create_app(settings, engine=FakeEngine(), store=store)) as client:
            assert wait_for(lambda: client.get("/readyz").status_code == 200)
            broken.set()
            assert wait_for(lambda: client.get("/readyz").status_code == 503)
            body = client.get("/readyz").json()["error"]
            assert "registry has not been reachable" in body["message"]
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 503
            broken.clear()
            assert wait_for(lambda: client.get("/readyz").status_code == 200)
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    finally:
        store.close()
