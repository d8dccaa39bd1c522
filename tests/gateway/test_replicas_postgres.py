"""Two real ``lethe serve`` replicas (separate data dirs) sharing one PostgreSQL registry: a
forget request on either holds on the other within a second through the change feed (the poll
interval is 2 s, so the feed is what makes it fast); killing PostgreSQL makes both go not-ready
and they recover when it returns, with nothing lost. Prints the convergence p50/p95."""

from __future__ import annotations

import functools
from pathlib import Path

import httpx
import pytest

from tests.gateway import replicas
from tests.gateway.replicas import hits, print_convergence
from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights
from tests.indices import postgres
from tests.indices.postgres import PostgresServer

pytestmark = [pytest.mark.model, pytest.mark.embedder]
postgres_server = postgres.postgres_server
postgres_dsn = postgres.postgres_dsn

KEY = "replica-key"
ADMIN = {"Authorization": f"Bearer {KEY}"}
ROUNDS = 8
until = functools.partial(replicas.until, timeout=10.0)  # PostgreSQL restarts take longer


def replica(tmp_path: Path, name: str, dsn: str) -> ServeProcess:
    data = data_dir_sharing_weights(tmp_path / name)
    env = {
        "LETHE_ADMIN_KEY": KEY,
        "LETHE_REGISTRY_URL": dsn,
        "LETHE_REGISTRY_POLL_S": "2",
        "LETHE_REGISTRY_STALE_S": "1.5",
    }
    return ServeProcess(args=("--log-level", "warning"), env=env, data_dir=data)


def ready(url: str) -> int:
    try:
        return httpx.get(url + "/readyz", timeout=5).status_code
    except httpx.TransportError:
        return 0


def test_replicas_converge_through_postgres_and_survive_its_outage(
    tmp_path: Path, postgres_server: PostgresServer, postgres_dsn: str
) -> None:
    added: list[float] = []
    deleted: list[float] = []
    with (
        replica(tmp_path, "a", postgres_dsn) as a,
        replica(tmp_path, "b", postgres_dsn) as b,
        httpx.Client(base_url=a.url, headers=ADMIN, timeout=30) as on_a,
        httpx.Client(base_url=b.url, headers=ADMIN, timeout=30) as on_b,
    ):
        for client in (on_a, on_b):  # the first scope lookup warms the embedder up (~1 s cold)
            hits(client, "warm up")
        for i in range(ROUNDS):
            writer, reader = (on_a, on_b) if i % 2 == 0 else (on_b, on_a)
            name = f"Quillon Varda{i}"
            body = {"id": f"r{i}", "kind": "entity", "name": name}
            assert writer.post("/admin/targets", json=body).status_code == 201
            added.append(until(lambda n=name, r=reader, t=f"r{i}": hits(r, f"Who is {n}?") == {t}))
        for i in range(ROUNDS):
            assert on_a.delete(f"/admin/targets/r{i}").status_code == 200
            deleted.append(until(lambda n=f"Quillon Varda{i}": not hits(on_b, f"Who is {n}?")))
        body = {"id": "keep", "kind": "entity", "name": "Orla Pim"}
        assert on_a.post("/admin/targets", json=body).status_code == 201
        until(lambda: hits(on_b, "Who is Orla Pim?") == {"keep"})

        postgres_server.kill()
        down = until(lambda: ready(a.url) == 503 and ready(b.url) == 503)
        chat = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(b.url + "/v1/chat/completions", json=chat, timeout=30).status_code == 503
        postgres_server.start()
        up = until(lambda: ready(a.url) == 200 and ready(b.url) == 200, timeout=30)
        assert hits(on_b, "Who is Orla Pim?") == {"keep"}  # nothing lost
        body = {"id": "after", "kind": "entity", "name": "Bex Amari"}
        assert on_b.post("/admin/targets", json=body).status_code == 201
        until(lambda: hits(on_a, "Who is Bex Amari?") == {"after"})
    for label, times in (("add", added), ("delete", deleted)):
        print_convergence(f"postgres convergence {label}", times)
        assert max(times) < 1.0, (label, times)
    print(f"postgres outage: not-ready after {down:.1f} s, ready {up:.1f} s after restart")
