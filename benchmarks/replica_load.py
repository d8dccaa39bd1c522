"""Two ``lethe serve`` replicas sharing one PostgreSQL registry (a throwaway server started
here) under 32 concurrent streaming and non-streaming ``openai`` clients for 60 s, with forget
targets added on one replica during the run: requests/s, p50/p95 latency and TTFT, 429s,
errors, leaks, and the add-to-enforced convergence time under load. The baseline measured in the
same run is one replica alone under the same clients (``--no-baseline`` skips it).

    python -m benchmarks.replica_load [--clients 32] [--duration 60] [--tokens 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx

from benchmarks.common import load_average, save
from tests.gateway.load import LoadPlan, run_load
from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights
from tests.indices.postgres import PostgresServer

KEY = "bench-key"
TARGETS = [("t-ardel", "Ardel Fenwick"), ("t-maro", "Maro Quist"), ("t-sela", "Sela Ondry")]


def replicas(stack: ExitStack, root: Path, dsn: str, count: int) -> list[ServeProcess]:
    """``count`` started replicas on ``dsn``, each with its own data dir (shared model cache)."""
    started = []
    for i in range(count):
        data = data_dir_sharing_weights(root / f"replica-{i}")
        env = {"LETHE_ADMIN_KEY": KEY, "LETHE_REGISTRY_URL": dsn}
        started.append(stack.enter_context(ServeProcess(("--log-level", "warning"), env, data)))
    return started


def run(root: Path, server: PostgresServer, count: int, args: argparse.Namespace) -> dict:
    """One run against ``count`` replicas on a fresh database."""
    name = f"lethe_bench_{count}"
    server.admin(f"DROP DATABASE IF EXISTS {name}")
    server.admin(f"CREATE DATABASE {name}")
    with ExitStack() as stack:
        served = replicas(stack, root / name, server.dsn(name), count)
        headers = {"Authorization": f"Bearer {KEY}"}
        for target_id, target in TARGETS:
            body = {"id": target_id, "kind": "entity", "name": target}
            httpx.post(served[0].url + "/admin/targets", json=body, headers=headers, timeout=30)
        plan = LoadPlan(
            urls=[s.url for s in served],
            model=httpx.get(served[0].url + "/v1/models", timeout=10).json()["data"][0]["id"],
            admin_key=KEY,
            targets=TARGETS,
            clients=args.clients,
            duration_s=args.duration,
            max_tokens=args.tokens,
        )
        return asyncio.run(run_load(plan)).summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lethe-load-"))
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="lethe-pg-")))  # its own: chowned
    server.init()
    server.start()
    try:
        results = {"two_replicas": run(root, server, 2, args)}
        if not args.no_baseline:
            results["one_replica"] = run(root, server, 1, args)
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    results["load_average"] = load_average()
    for label in ("two_replicas", "one_replica"):
        if label in results:
            print(label, json.dumps(results[label]))
    if "one_replica" in results and results["one_replica"]["requests_per_s"]:
        ratio = results["two_replicas"]["requests_per_s"] / results["one_replica"]["requests_per_s"]
        results["throughput_ratio"] = round(ratio, 2)
        print(
            f"requests/s, two replicas vs one: {ratio:.2f}x on the same cores "
            "(a replica decodes on cores - 1 threads: one replica leaves a core to its loop)"
        )
    print("saved", save("replica_load", results))


if __name__ == "__main__":
    main()
