"""The forget store in the app's life: opened in the background, readiness, failures, shutdown,
the access rule at start-up, body limits per route, and the ``serve`` start-up checks."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from lethe.errors import ConfigurationError, Unavailable
from lethe.gateway.app import create_app
from lethe.gateway.cli import main
from lethe.gateway.readiness import Startup, StoreLoader
from lethe.gateway.runtime import Runtime
from lethe.gateway.serving.admin_access import AdminAccess, is_loopback
from lethe.gateway.store import AfterEngineLoad
from lethe.indices import StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer
from tests.indices.fakes import HashingEmbedder


def wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def open_store(path: Path) -> TargetStore:
    return TargetStore.open(path, HashingEmbedder(), config=StoreConfig(background=False))


def test_store_loader_opens_in_the_background(tmp_path: Path) -> None:
    gate = threading.Event()
    store = open_store(tmp_path)

    def slow_open() -> TargetStore:
        gate.wait(10)
        return store

    loader = StoreLoader(slow_open, owned=False)
    loader.start()
    assert loader.state == "loading" and loader.store is None
    with pytest.raises(Unavailable, match="still opening"):
        loader.require()
    gate.set()
    assert wait_for(lambda: loader.state == "ready")
    assert loader.require() is store and loader.embedder_loaded is False  # nothing to load
    loader.close(5)
    assert store.list().items == ()  # an injected store stays open: the caller closes it
    store.close()


def test_store_loader_reports_a_failed_open() -> None:
    def broken() -> TargetStore:
        raise ConfigurationError("registry embedded with another model")

    loader = StoreLoader(broken)
    loader.start()
    assert wait_for(lambda: loader.state == "failed")
    with pytest.raises(Unavailable, match="failed to open"):
        loader.require()


def test_a_store_opened_during_shutdown_is_closed(tmp_path: Path) -> None:
    gate = threading.Event()
    store = open_store(tmp_path)
    loader = StoreLoader(lambda: gate.wait(10) and store)  # type: ignore[arg-type,return-value]
    loader.start()
    loader.close(0.05)  # gives up waiting: the store arrives after the close
    gate.set()
    assert wait_for(lambda: not loader._thread.is_alive())  # type: ignore[union-attr]
    assert loader.store is None
    with pytest.raises(sqlite3.ProgrammingError):
        store.delete("t1")


@pytest.mark.parametrize(
    ("engine_state", "store_state", "expected"),
    [
        ("loading", "loading", "loading"),
        ("ready", "loading", "loading"),
        ("loading", "ready", "loading"),
        ("ready", "ready", "ready"),
        ("failed", "ready", "failed"),
        ("ready", "failed", "failed"),
        ("loading", "failed", "failed"),
    ],
)
def test_startup_combines_model_and_store(
    engine_state: str, store_state: str, expected: str
) -> None:
    class Fixed:
        def __init__(self, state: str) -> None:
            self.state = state

    startup = Startup(Fixed(engine_state), Fixed(store_state))  # type: ignore[arg-type]
    assert startup.state == expected


def test_readiness_waits_for_the_store_and_healthz_fails_with_it(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    app = create_app(make_settings(data_dir=not_a_dir), engine=FakeEngine())
    with TestClient(app) as client:
        assert wait_for(lambda: client.get("/healthz").status_code == 503)
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "registry failed" in ready.json()["error"]["message"]
        admin = client.get("/admin/registry")
        assert admin.status_code == 503 and admin.headers["retry-after"] == "1"
        chat = {"model": "lethe-fake", "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/v1/chat/completions", json=chat).status_code == 503


def test_readyz_waits_for_the_after_load_work(tmp_path: Path) -> None:
    """Chat is served once both loads finished; ``/readyz`` also waits for the after-load work
    (``lethe serve`` freezes its heap there), so a load balancer sends nothing into that pause."""
    gate = threading.Event()
    store = open_store(tmp_path)
    app = create_app(make_settings(), engine=FakeEngine(), store=store)
    with TestClient(app) as client:
        runtime = client.app_state["runtime"]
        runtime.loader.after_load(gate.wait)
        assert wait_for(lambda: runtime.loader.state == "ready")
        chat = {"model": "lethe-fake", "messages": [{"role": "user", "content": "hi"}]}
        assert client.post("/v1/chat/completions", json=chat).status_code == 200
        not_yet = client.get("/readyz")
        assert not_yet.status_code == 503 and "warming up" in not_yet.json()["error"]["message"]
        gate.set()
        assert wait_for(lambda: client.get("/readyz").status_code == 200)
    store.close()


def test_the_store_opens_from_settings_and_closes_at_shutdown(tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path, import_batch=7)
    runtime = Runtime.start(settings, FakeEngine())
    assert wait_for(lambda: runtime.loader.state == "ready")
    store = runtime.store
    assert (tmp_path / "registry.sqlite3").exists() and (tmp_path / "audit.sqlite3").exists()
    assert store.embedder.name == "all-MiniLM-L6-v2" and store.embedder.dim == 384
    assert store.config.bulk_batch == 7
    runtime.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.delete("t1")
    with pytest.raises(Unavailable):
        runtime.store  # noqa: B018


def test_an_injected_store_is_used_and_left_open(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    runtime = Runtime.start(make_settings(), FakeEngine(), store)
    assert wait_for(lambda: runtime.loader.state == "ready")
    assert runtime.store is store and runtime.store_loader.store is store
    runtime.close()
    assert store.version == 0 and store.list().items == ()  # still usable
    store.close()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("gateway.internal", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_public_address_without_an_admin_key_does_not_start() -> None:
    with pytest.raises(ConfigurationError, match="needs an admin key"):
        Runtime.start(make_settings(host="0.0.0.0"), FakeEngine())
    access = AdminAccess.from_settings(make_settings(host="0.0.0.0", admin_key="k"))
    assert access.mode == "key"


def test_serve_refuses_a_public_address_without_an_admin_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LETHE_ADMIN_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lethe: error: the admin API needs an admin key")
    assert "\n" not in err and "Traceback" not in err


def test_serve_log_line_says_when_the_admin_api_is_open() -> None:
    from lethe.gateway.commands.serve import listening_fields

    open_fields = listening_fields(make_settings())
    assert open_fields["admin_api"] == "open (loopback only, no admin key)"
    assert listening_fields(make_settings(admin_key="k"))["admin_api"] == "admin key"


def test_the_import_route_takes_bodies_larger_than_max_body_bytes(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    settings = make_settings(max_body_bytes=2048, admin_import_max_bytes=16 * 1024)
    lines = [f'{{"id": "b{i}", "kind": "topic", "name": "Bodyname {i}"}}' for i in range(200)]
    body = ("\n".join(lines) + "\n").encode()
    assert 2048 < len(body) < 16 * 1024 < 2 * len(body)
    try:
        with LiveServer(create_app(settings, engine=FakeEngine(), store=store)) as live:
            imported = httpx.post(f"{live.url}/admin/targets:import", content=body, timeout=30)
            assert imported.status_code == 200 and imported.json()["imported"] == 200
            too_big = httpx.post(f"{live.url}/admin/targets:import", content=body * 2)
            assert too_big.status_code == 413
            assert too_big.json()["error"]["code"] == "request_too_large"
            chunked = httpx.post(f"{live.url}/admin/targets:import", content=iter([body, body]))
            assert chunked.status_code == 413  # no Content-Length: cut while it streams
            chat = {"model": "lethe-fake", "messages": [{"role": "user", "content": "x" * 4096}]}
            assert httpx.post(f"{live.url}/v1/chat/completions", json=chat).status_code == 413
    finally:
        store.close()


def test_the_embedder_waits_for_the_engine_load() -> None:
    gate = threading.Event()
    order: list[str] = []
    inner = HashingEmbedder()

    def engine_loaded() -> None:
        gate.wait(5)
        order.append("engine")

    embedder = AfterEngineLoad(inner, engine_loaded)
    worker = threading.Thread(target=lambda: (embedder.embed(["x"]), order.append("embedded")))
    worker.start()
    time.sleep(0.05)
    assert order == [] and inner.calls == 0  # a first transformers import waits for the engine's
    gate.set()
    worker.join(5)
    embedder.embed(["y"])
    assert order == ["engine", "embedded"] and inner.calls == 2
    assert (embedder.name, embedder.dim) == (inner.name, inner.dim)
