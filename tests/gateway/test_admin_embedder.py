"""The admin API on the real embedder (all-MiniLM-L6-v2), with the store opened from settings:
preload, semantic scope of a paraphrase, import, and a restart that finds everything again."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from lethe.gateway.app import create_app
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer

pytestmark = pytest.mark.embedder

ADA = {
    "id": "ada",
    "kind": "entity",
    "name": "Ada Quill",
    "content": [
        {"question": "What did Ada Quill invent?", "answer": "A brass tide calculator."},
        "Ada Quill built the first brass tide calculator in the harbour town of Ulm.",
    ],
}
OTHERS = [
    {"id": "bread", "kind": "topic", "name": "Sourdough baking"},
    {"id": "jazz", "kind": "topic", "name": "Bebop jazz history"},
]


def wait_until(predicate: object, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_real_embedder_through_the_admin_api(tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path, embedder_preload=True)
    with LiveServer(create_app(settings, engine=FakeEngine())) as live:
        client = httpx.Client(base_url=live.url, timeout=60)
        wait_until(lambda: client.get("/admin/registry").json()["embedder_loaded"])
        info = client.get("/admin/registry").json()
        assert (info["embedder"], info["dim"]) == ("all-MiniLM-L6-v2", 384)
        assert client.post("/admin/targets", json=ADA).status_code == 201
        body = "\n".join(json.dumps(t) for t in OTHERS)
        assert client.post("/admin/targets:import", content=body).json()["imported"] == 2
        paraphrase = "Who came up with a tide-predicting machine made of brass?"
        hits = client.get("/admin/scope", params={"text": paraphrase}).json()["hits"]
        assert hits[0]["target_id"] == "ada" and hits[0]["lexical"] == []
        assert hits[0]["semantic"] > 0.5 and hits[0]["semantic_source"] == "content"
        scores = {h["target_id"]: h["semantic"] for h in hits}
        assert all(scores[t["id"]] < hits[0]["semantic"] - 0.2 for t in OTHERS if t["id"] in scores)
        version = client.get("/admin/registry").json()["version"]
        client.close()
    with LiveServer(create_app(settings, engine=FakeEngine())) as live:  # restart: same answers
        client = httpx.Client(base_url=live.url, timeout=60)
        info = client.get("/admin/registry").json()
        assert (info["version"], info["targets"]) == (version, 3)
        again = client.get("/admin/scope", params={"text": paraphrase}).json()["hits"]
        assert again[0]["target_id"] == "ada"
        assert again[0]["semantic"] == pytest.approx(hits[0]["semantic"], abs=1e-4)
        client.close()
