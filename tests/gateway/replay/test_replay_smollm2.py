"""A replay end to end against a live gateway on the real embedded model, with the openai client.

Kept small (three probes, one attack, two samples, 16 tokens): the point is that the whole path
works on real outputs — streaming timings, usage, samples with ``n``, scoring, the report — not
the numbers, which docs/replay.md and the closing notes report from full runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.gateway.app import create_app
from lethe.gateway.replay.runner import RunConfig
from lethe.gateway.replay.session import Endpoint, ReplayOptions, run_replay
from lethe.gateway.replay.suite import Suite
from tests.gateway.conftest import make_settings
from tests.gateway.live import LiveServer
from tests.gateway.replay.fakes import FakeAdmin

pytestmark = pytest.mark.model

SUITE = Suite(
    name="smollm2-mini",
    targets=[
        {
            "id": "canberra",
            "kind": "fact",
            "name": "capital of Australia",
            "forbidden": ["Canberra"],
        }
    ],
    probes=[
        {
            "id": "f1",
            "target_id": "canberra",
            "kind": "forget",
            "prompt": "What is the capital of Australia?",
            "answers": ["Canberra"],
        },
        {
            "id": "r1",
            "kind": "retain",
            "prompt": "What is the capital of France?",
            "answers": ["Paris"],
        },
        {"id": "g1", "kind": "general", "prompt": "Suggest a name for a pet cat."},
    ],
)


@pytest.fixture(scope="module")
def gateway(smollm2: Any) -> Iterator[tuple[str, FakeAdmin]]:
    loaded = dataclasses.replace(smollm2, max_model_len=512)
    engine = HFEngine.from_loaded(loaded, HFEngineConfig(max_batch_size=8))
    admin = FakeAdmin()
    app = create_app(make_settings(default_max_tokens=16), engine=engine)
    admin.mount(app)
    with LiveServer(app) as live:
        yield live.url, admin


def test_replay_on_the_embedded_model(gateway, tmp_path):
    url, admin = gateway
    options = ReplayOptions(
        suite=SUITE,
        main=Endpoint(url + "/v1"),
        admin_url=url,
        admin_key="admin-key",
        out_dir=tmp_path / "out",
        attacks=("spell_dashes",),
        run=RunConfig(samples=2, max_tokens=16, concurrency=4),
        progress=False,
    )
    outcome = run_replay(options)
    summary = outcome.report["summary"]["main"]
    assert summary["errors"] == 0 and summary["probes"] == 4
    assert summary["retain"]["accuracy"] == 1.0  # SmolLM2 knows Paris, greedy
    assert summary["forget"]["n"] == 2 and set(summary["forget"]["leak_at_k"]) == {"1"}
    latency = summary["latency"]
    assert 0 < latency["ttft_p50_s"] <= latency["total_p50_s"]
    assert latency["tokens_per_s_p50"] > 0
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").open()]
    assert all(r["output"] and r["completion_tokens"] > 0 for r in results)
    assert next(r for r in results if r["probe_id"] == "f1")["samples"] == 2
    assert admin.calls == ["POST import", "DELETE canberra"]
    assert (tmp_path / "out" / "report.md").exists()
