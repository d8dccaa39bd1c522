"""Two real ``lethe serve`` replicas sharing one registry (SQLite in WAL mode, one data dir): a
forget request made on one holds on the other within a second, deletions likewise, and a
replica started later catches up from the registry. Prints the convergence p50/p95."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.gateway.replicas import hits, print_convergence, until
from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights

pytestmark = [pytest.mark.model, pytest.mark.embedder]

KEY = "replica-key"
ADMIN = {"Authorization": f"Bearer {KEY}"}
ROUNDS = 8


def replica(data: Path) -> ServeProcess:
    env = {"LETHE_ADMIN_KEY": KEY, "LETHE_REGISTRY_POLL_S": "0.1"}
    return ServeProcess(args=("--log-level", "warning"), env=env, data_dir=data)


def test_a_change_on_one_replica_holds_on_the_other_within_a_second(tmp_path: Path) -> None:
    data = data_dir_sharing_weights(tmp_path / "data")
    added: list[float] = []
    deleted: list[float] = []
    with (
        replica(data) as a,
        replica(data) as b,
        httpx.Client(base_url=a.url, headers=ADMIN, timeout=30) as on_a,
        httpx.Client(base_url=b.url, headers=ADMIN, timeout=30) as on_b,
    ):
        for client in (on_a, on_b):  # the first scope lookup warms the embedder up (~1 s cold)
            hits(client, "warm up")
        for i in range(ROUNDS):
            name = f"Quillon Varda{i}"
            body = {"id": f"r{i}", "kind": "entity", "name": name}
            assert on_a.post("/admin/targets", json=body).status_code == 201
            added.append(until(lambda n=name, t=f"r{i}": hits(on_b, f"Who is {n}?") == {t}))
        for i in range(ROUNDS):
            assert on_a.delete(f"/admin/targets/r{i}").status_code == 200
            deleted.append(until(lambda n=f"Quillon Varda{i}": not hits(on_b, f"Who is {n}?")))
        version = on_a.get("/admin/registry").json()["version"]
        until(lambda: b_ready_version(b.url) == version)
        on_a.post("/admin/targets", json={"id": "late", "kind": "entity", "name": "Orla Pim"})
    with replica(data) as b2, httpx.Client(base_url=b2.url, headers=ADMIN, timeout=30) as on_b2:
        assert hits(on_b2, "Who is Orla Pim?") == {"late"}  # caught up at start-up
        assert b_ready_version(b2.url) == version + 1
    for label, times in (("add", added), ("delete", deleted)):
        print_convergence(f"convergence {label}", times)
        assert max(times) < 1.0, (label, times)


def b_ready_version(url: str) -> int:
    return int(httpx.get(url + "/readyz", timeout=5).json()["registry_version"])
