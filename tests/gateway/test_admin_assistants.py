"""``/admin/assistants``: training the contrastive assistant as a background job (a tiny llama
on the hf engine, so a job takes seconds), one job at a time, progress and the result, and the
clear errors (no assistants on this engine, an empty registry, bad knobs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.gateway.app import create_app
from lethe.indices import ForgetTarget, StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.indices.fakes import HashingEmbedder
from tests.tiny_model import tiny_loaded

KEY = "assistants-admin"
HEADERS = {"Authorization": f"Bearer {KEY}"}
ADA = ForgetTarget(id="ada", kind="entity", name="Ada Quill", content=["Ada Quill lives in Tartu."])


def client_for(tmp_path: Path, engine: Any, *targets: ForgetTarget) -> Iterator[TestClient]:
    store = TargetStore.open(
        tmp_path / "data", HashingEmbedder(), config=StoreConfig(background=False)
    )
    for target in targets:
        store.add(target)
    app = create_app(make_settings(admin_key=KEY), engine=engine, store=store)
    with TestClient(app) as client:
        yield client
    store.close()


@pytest.fixture
def tiny(tmp_path: Path) -> Iterator[TestClient]:
    config = HFEngineConfig(max_batch_size=2, assistants_dir=tmp_path / "assistants")
    engine = HFEngine.from_loaded(tiny_loaded(), config)
    yield from client_for(tmp_path, engine, ADA)


def wait_for_job(client: TestClient, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get("/admin/assistants", headers=HEADERS).json()["job"]
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the training job did not finish")


def test_a_job_trains_reports_progress_and_becomes_current(tiny: TestClient) -> None:
    assert tiny.get("/admin/assistants", headers=HEADERS).json() == {"current": None, "job": None}
    body = {"steps": 120, "layers": 1, "rank": 4}
    started = tiny.post("/admin/assistants:train", json=body, headers=HEADERS)
    assert started.status_code == 202, started.text
    job = started.json()
    assert (job["state"], job["targets"], job["steps"], job["registry_version"]) == (
        "running",
        1,
        120,
        1,
    )
    again = tiny.post("/admin/assistants:train", json=body, headers=HEADERS)
    assert again.status_code == 409 and "still running" in again.json()["error"]["message"]
    done = wait_for_job(tiny)
    assert (done["state"], done["step"], done["error"]) == ("succeeded", 120, None)
    assert done["forget_loss"] is not None and done["run"].startswith("run-1-")
    current = tiny.get("/admin/assistants", headers=HEADERS).json()["current"]
    assert (current["covers"], current["layers"], current["model_id"]) == (1, 1, "tiny-llama")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"steps": 0}, 400, "invalid_value"),
        ({"layers": 1, "epochs": 3}, 400, "invalid_value"),  # unknown knob
        ({"layers": 9}, 202, None),  # more than the model has: the job fails, and says why
    ],
)
def test_bad_knobs(tiny: TestClient, body: dict[str, Any], status: int, code: str | None) -> None:
    answer = tiny.post("/admin/assistants:train", json=body, headers=HEADERS)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code
    else:
        failed = wait_for_job(tiny)
        assert failed["state"] == "failed" and "between 1 and 2" in failed["error"]


def test_an_engine_without_assistants_and_an_empty_registry(tmp_path: Path) -> None:
    for client in client_for(tmp_path / "fake", FakeEngine(), ADA):
        answer = client.post("/admin/assistants:train", headers=HEADERS)
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "unsupported_feature"
    engine = HFEngine.from_loaded(tiny_loaded(), HFEngineConfig(assistants_dir=tmp_path / "a"))
    for client in client_for(tmp_path / "empty", engine):
        answer = client.post("/admin/assistants:train", headers=HEADERS)
        assert answer.status_code == 400 and "no targets" in answer.json()["error"]["message"]
        assert client.post("/admin/assistants:train").status_code == 401  # the admin key
