"""Reliability of the admin API with real parts: concurrent writers with chat traffic, and
``kill -9`` of a real ``lethe serve`` process during a bulk import."""

from __future__ import annotations

import contextlib
import gc
import itertools
import random
import signal
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from lethe.gateway.app import create_app, freeze_startup_heap
from lethe.indices import ForgetTarget, SqliteRegistry, StoreConfig, TargetStore
from tests.gateway.conftest import make_settings
from tests.gateway.fakes import FakeEngine
from tests.gateway.live import LiveServer
from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights
from tests.indices.fakes import HashingEmbedder

KEY = "reliability-key"
ADMIN = {"Authorization": f"Bearer {KEY}"}
CHAT = {"model": "lethe-fake", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


class SlowEmbedder(HashingEmbedder):
    """The hashing embedder, plus a pause per bulk call (an import's batch) that releases the
    GIL like a real model's forward pass: a write that ran on the event loop would stall every
    request by ``delay_s``. A chat request's own scope lookup embeds a few texts, unpaused."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) > 8:
            time.sleep(self.delay_s)
        return super().embed(texts)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, TargetStore]]:
    store = TargetStore.open(tmp_path, SlowEmbedder(0.02), config=StoreConfig())
    settings = make_settings(admin_key=KEY, import_batch=50)
    with LiveServer(create_app(settings, engine=FakeEngine(), store=store)) as live:
        yield live.url, store
    store.close()


def append_alias(client: httpx.Client, target_id: str, alias: str) -> tuple[int, int]:
    """Read-modify-write with If-Match, retried on 409; (version written, attempts)."""
    for attempt in range(1, 200):
        current = client.get(f"/admin/targets/{target_id}")
        aliases = [*current.json()["aliases"], alias]
        response = client.patch(
            f"/admin/targets/{target_id}",
            json={"aliases": aliases},
            headers={"If-Match": current.headers["etag"]},
        )
        if response.status_code == 200:
            return response.json()["version"], attempt
        assert response.status_code == 409, response.text
    raise AssertionError("never won the race")


def test_concurrent_writers_lose_no_update(gateway: tuple[str, TargetStore]) -> None:
    url, store = gateway
    with httpx.Client(base_url=url, headers=ADMIN, timeout=30) as client:
        start = client.post("/admin/targets", json={"id": "shared", "kind": "topic", "name": "Hub"})
        v0 = start.json()["version"]

        def patcher(worker: int) -> list[int]:
            return [append_alias(client, "shared", f"Alias w{worker} n{n}")[0] for n in range(4)]

        def adder(worker: int) -> list[int]:
            bodies = [{"id": f"a{worker}-{n}", "kind": "entity", "name": f"Added {worker} {n}"}
                      for n in range(6)]  # fmt: skip
            return [client.post("/admin/targets", json=b).json()["version"] for b in bodies]

        with ThreadPoolExecutor(8) as pool:
            patches = [pool.submit(patcher, w) for w in range(5)]
            adds = [pool.submit(adder, w) for w in range(3)]
            per_worker = [f.result() for f in patches + adds]
        final = client.get("/admin/targets/shared").json()
        registry = client.get("/admin/registry").json()
    versions = [v for worker in per_worker for v in worker]
    assert all(a < b for worker in per_worker for a, b in itertools.pairwise(worker))
    assert len(set(versions)) == len(versions) == 5 * 4 + 3 * 6  # one version per write
    assert sorted(versions) == list(range(v0 + 1, v0 + 1 + len(versions)))
    expected = {f"Alias w{w} n{n}" for w in range(5) for n in range(4)}
    assert set(final["aliases"]) == expected and len(final["aliases"]) == 20  # none lost
    assert registry["version"] == store.version == v0 + len(versions)
    assert registry["targets"] == 1 + 3 * 6


def timed_chat(client: httpx.Client, stream: bool) -> float:
    started = time.perf_counter()
    if stream:
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
            assert r.status_code == 200
            assert list(r.iter_lines())[-2:] == ["data: [DONE]", ""]
    else:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    return time.perf_counter() - started


def test_chat_is_served_while_an_import_runs(tmp_path: Path) -> None:
    """Every embedding call of the import pauses 0.5 s; chat latency must stay far below it.

    The heap is frozen as ``lethe serve`` freezes it after start-up: the server runs inside this
    test process, whose heap the rest of the suite has grown, and a full collection of it
    (~0.6 s measured in CI) would otherwise be timed as if a chat waited on the import."""
    delay = 0.5
    store = TargetStore.open(tmp_path, SlowEmbedder(delay), config=StoreConfig())
    settings = make_settings(admin_key=KEY, import_batch=25)
    lines = [f'{{"id": "c{i}", "kind": "topic", "name": "Chatty {i}"}}' for i in range(150)]
    body = ("\n".join(lines) + "\n").encode()
    result: dict[str, object] = {}
    freeze_startup_heap()
    try:
        with (
            LiveServer(create_app(settings, engine=FakeEngine(), store=store)) as live,
            httpx.Client(base_url=live.url, timeout=30) as chat,
        ):
            baseline = [timed_chat(chat, stream=i % 2 == 1) for i in range(10)]

            def run_import() -> None:
                with httpx.Client(base_url=live.url, headers=ADMIN, timeout=120) as admin:
                    result["answer"] = admin.post("/admin/targets:import", content=body).json()

            importer = threading.Thread(target=run_import)
            importer.start()
            during: list[float] = []
            versions: list[int] = []
            while importer.is_alive():
                during.append(timed_chat(chat, stream=len(during) % 2 == 1))
                versions.append(store.version)
            importer.join()
    finally:
        gc.unfreeze()
        store.close()
    answer = result["answer"]
    assert isinstance(answer, dict) and answer["imported"] == 150 and answer["version"] == 6
    assert versions == sorted(versions) and versions[-1] > versions[0]  # it ran meanwhile
    p50, worst = statistics.median(during), max(during)
    assert p50 < 0.1 and worst < 0.8 * delay, (baseline, during)  # never behind an embedding
    assert len(during) >= 20


NAMES = ["ka", "lo", "mi", "ra", "ve", "tu", "zor", "quen", "wick", "bar", "dal", "fen"]


def name_of(i: int) -> str:
    """A made-up two-word name, unique per ``i``."""
    rng = random.Random(i)
    first = "".join(rng.choice(NAMES) for _ in range(2)).capitalize()
    return f"{first} {''.join(rng.choice(NAMES) for _ in range(3)).capitalize()}{i}"


def import_body(n: int) -> Iterator[bytes]:
    """``n`` small targets as JSONL, in chunks of 100 lines."""
    for start in range(0, n, 100):
        lines = [
            ForgetTarget(id=f"k{i:05d}", kind="entity", name=name_of(i)).model_dump_json(
                include={"id", "kind", "name"}
            )
            for i in range(start, min(n, start + 100))
        ]
        yield ("\n".join(lines) + "\n").encode()


def all_targets(client: httpx.Client) -> list[dict]:
    targets, cursor = [], None
    while True:
        params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = client.get("/admin/targets", params=params).json()
        targets += page["data"]
        if (cursor := page["next_cursor"]) is None:
            return targets


class Served(ServeProcess):
    """``lethe serve`` on ``data`` whose failed start-up shows the server's log."""

    def __enter__(self) -> Served:
        try:
            super().__enter__()
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; its log:\n{self.log_text()[-6000:]}") from None
        return self


def serve(data: Path) -> Served:
    env = {"LETHE_ADMIN_KEY": KEY, "LETHE_IMPORT_BATCH": "100"}
    return Served(args=("--log-level", "warning"), env=env, data_dir=data, ready_timeout_s=120)


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.embedder
def test_kill_9_during_an_import_leaves_registry_and_index_in_agreement(tmp_path: Path) -> None:
    data = data_dir_sharing_weights(tmp_path / "data")
    with serve(data) as server, httpx.Client(base_url=server.url, headers=ADMIN) as admin:
        importer = threading.Thread(
            target=lambda: _post_quietly(server.url, import_body(10_000)), daemon=True
        )
        importer.start()
        deadline = time.monotonic() + 90
        while admin.get("/admin/registry").json()["version"] < 3:
            assert time.monotonic() < deadline, "the import did not get going"
            time.sleep(0.05)
        time.sleep(random.uniform(0.0, 1.5))  # somewhere inside a later batch
        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        importer.join(30)
    registry = SqliteRegistry.in_dir(data)
    log_version = max(c.version for c in registry.changes(0))
    assert registry.version() == log_version
    registry.close()
    with serve(data) as server, httpx.Client(base_url=server.url, headers=ADMIN) as admin:
        info = admin.get("/admin/registry").json()
        targets = all_targets(admin)
        n = len(targets)
        assert info["version"] == log_version == n // 100  # one version per batch of 100
        assert n % 100 == 0 and n < 10_000  # no half-written batch; killed before the end
        assert [t["id"] for t in targets] == [f"k{i:05d}" for i in range(n)]
        assert info["targets"] == n and info["vectors"] == n  # one name vector each
        for t in targets:
            hits = admin.get("/admin/scope", params={"text": t["name"], "k": 3}).json()["hits"]
            hit = next(h for h in hits if h["target_id"] == t["id"])
            assert [m["kind"] for m in hit["lexical"]] == ["name"]
            assert hit["semantic"] > 0.99, (t, hit)


def _post_quietly(url: str, body: Iterator[bytes]) -> None:
    """The import request; the server dies under it, which is the point."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{url}/admin/targets:import", content=body, headers=ADMIN, timeout=None)
