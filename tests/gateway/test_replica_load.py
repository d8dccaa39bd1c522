"""A bounded load on loopback: 32 concurrent ``openai`` clients for 20 s against two real
``lethe serve`` replicas sharing one PostgreSQL registry, while forget targets are added on one
replica and looked up on the other. No errors other than documented 429s, no answer names a
forget target, and every change converges; prints requests/s and p50/p95 latency, TTFT and
convergence. ``benchmarks/replica_load.py`` runs the same for 60 s."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.gateway.load import LoadPlan, run_load
from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights
from tests.indices import postgres

pytestmark = [pytest.mark.model, pytest.mark.embedder, pytest.mark.slow]
postgres_server = postgres.postgres_server
postgres_dsn = postgres.postgres_dsn

KEY = "load-key"
TARGETS = [("t-ardel", "Ardel Fenwick"), ("t-maro", "Maro Quist"), ("t-sela", "Sela Ondry")]


def replica(tmp_path: Path, name: str, dsn: str) -> ServeProcess:
    data = data_dir_sharing_weights(tmp_path / name)
    env = {"LETHE_ADMIN_KEY": KEY, "LETHE_REGISTRY_URL": dsn}
    return ServeProcess(args=("--log-level", "warning"), env=env, data_dir=data)


def test_two_replicas_under_32_clients(tmp_path: Path, postgres_dsn: str) -> None:
    with replica(tmp_path, "a", postgres_dsn) as a, replica(tmp_path, "b", postgres_dsn) as b:
        headers = {"Authorization": f"Bearer {KEY}"}
        for target_id, name in TARGETS:
            body = {"id": target_id, "kind": "entity", "name": name}
            answer = httpx.post(a.url + "/admin/targets", json=body, headers=headers, timeout=30)
            assert answer.status_code == 201, answer.text
        model = httpx.get(a.url + "/v1/models", timeout=10).json()["data"][0]["id"]
        plan = LoadPlan(
            urls=[a.url, b.url], model=model, admin_key=KEY, targets=TARGETS, duration_s=20
        )
        result = asyncio.run(run_load(plan))
        logs = a.log_text() + b.log_text()
    summary = result.summary()
    print("replica load:", json.dumps(summary))
    assert not result.errors, (summary, logs[-3000:])
    assert not result.leaks, result.leaks[:3]
    assert summary["requests_ok"] >= plan.clients and result.in_scope > 0
    assert result.convergence_s and max(result.convergence_s) < 5.0, result.convergence_s
    assert "Traceback" not in logs, logs[-3000:]
