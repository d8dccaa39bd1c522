"""``GET /metrics``: the official ``openai`` client's requests, counted by route and status,
with TTFT and duration histograms, tokens, enforcement events and the registry gauges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lethe.gateway.app import create_app
from lethe.gateway.metrics import Metrics, State
from lethe.indices import AuditEvent, StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine, Reply
from tests.gateway.live import LiveServer
from tests.guards.conftest import EINSTEIN
from tests.indices.fakes import HashingEmbedder

CHAT = "/v1/chat/completions"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def live(tmp_path: Path) -> Iterator[dict[str, Any]]:
    store = TargetStore.open(tmp_path / "d", HashingEmbedder(), config=StoreConfig())
    store.add(EINSTEIN)
    engine = FakeEngine()
    with LiveServer(create_app(make_settings(), engine=engine, store=store)) as server:
        yield {"url": server.url, "engine": engine, "store": store}
    store.close()


def test_requests_ttft_tokens_enforcements_and_gauges(live: dict[str, Any]) -> None:
    client = openai.OpenAI(base_url=live["url"] + "/v1", api_key="x", max_retries=0)
    hi = [{"role": "user", "content": "hi"}]
    client.chat.completions.create(model="lethe-fake", messages=hi)
    list(client.chat.completions.create(model="lethe-fake", messages=hi, stream=True))
    live["engine"].enqueue(Reply(choices=(("A physicist.",),)))
    about = [{"role": "user", "content": "Who was Albert Einstein?"}]
    client.chat.completions.create(model="lethe-fake", messages=about)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=hi)
    response = httpx.get(live["url"] + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(response.text)
    route = (("route", CHAT),)
    assert got[("lethe_requests_total", (("route", CHAT), ("status", "200")))] == 3
    assert got[("lethe_requests_total", (("route", CHAT), ("status", "404")))] == 1
    assert got[("lethe_time_to_first_token_seconds_count", route)] == 3
    assert got[("lethe_request_duration_seconds_count", route)] == 4
    assert got[("lethe_tokens_total", (("kind", "completion"),))] > 0
    assert got[("lethe_tokens_total", (("kind", "prompt"),))] > 0
    assert got[("lethe_enforcements_total", (("action", "guard"), ("technique", "scope")))] == 1
    assert got[("lethe_registry_version", ())] == live["store"].version
    assert got[("lethe_registry_targets", ())] == 1
    assert got[("lethe_ready", ())] == 1 and got[("lethe_queue_depth", ())] == 0


def test_metrics_answer_while_loading_without_the_gauges_not_known_yet() -> None:
    import threading

    gate = threading.Event()
    engine = FakeEngine(load_gate=gate)
    with LiveServer(create_app(make_settings(), engine=engine), wait_ready=False) as server:
        got = samples(httpx.get(server.url + "/metrics").text)
        gate.set()
    assert got[("lethe_ready", ())] == 0 and ("lethe_queue_depth", ()) not in got


def test_apps_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.observe_events([AuditEvent("r", "t", "agentic", "rewrite", 3, {})])
    first.observe_request("/x", 200, 0.1, ttft_s=None, usage=None)
    assert b'lethe_enforcements_total{action="rewrite",technique="agentic"} 1.0' in first.render()
    assert b"lethe_enforcements_total{" not in second.render()
    assert b"lethe_time_to_first_token_seconds_count" not in first.render()


def test_state_gauges_are_read_at_scrape_time() -> None:
    state = State(registry_version=1, registry_targets=2, queue_depth=3, ready=True)
    current = [state]
    metrics = Metrics(lambda: current[0])
    assert samples(metrics.render().decode())[("lethe_registry_version", ())] == 1
    current[0] = State(registry_version=9, registry_targets=2, queue_depth=None, ready=True)
    got = samples(metrics.render().decode())
    assert got[("lethe_registry_version", ())] == 9 and ("lethe_queue_depth", ()) not in got
