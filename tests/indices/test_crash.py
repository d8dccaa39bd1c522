from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lethe.indices.sqlite_registry import SqliteRegistry
from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from tests.indices.checks import assert_store_matches_registry, registry_state
from tests.indices.crash_importer import BATCH
from tests.indices.fakes import HashingEmbedder

REPO = Path(__file__).resolve().parents[2]


def run_until_killed(data_dir: Path, first_batch: int, seed: int) -> int:
    """Start the importer, let it commit a few batches, SIGKILL it at a random moment."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.indices.crash_importer", str(data_dir), str(first_batch)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    last, batches = 0, 0
    for line in proc.stdout:
        last, batches = int(line.split()[1]), batches + 1
        if batches >= 3:
            break
    else:  # pragma: no cover - the importer died on its own
        raise AssertionError(proc.stderr.read() if proc.stderr else "importer exited")
    time.sleep(random.Random(seed).uniform(0.0, 0.25))  # somewhere inside the next batch
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return last


@pytest.mark.slow
def test_kill_9_during_bulk_import_leaves_registry_and_index_in_agreement(tmp_path):
    data = tmp_path / "data"
    for round_no in range(4):
        committed = run_until_killed(data, first_batch=round_no * 100, seed=round_no)
        registry = SqliteRegistry.in_dir(data)
        version, rows = registry_state(registry)  # every target has all its embeddings
        assert version >= committed
        per_batch = Counter(target_id.split("-")[0] for target_id in rows)
        assert set(per_batch.values()) == {BATCH}, per_batch  # no half-written batch
        store = TargetStore.open(data, HashingEmbedder(), config=StoreConfig(background=False))
        assert_store_matches_registry(store, registry)
        probe = sorted(rows)[-1]
        assert probe in store.scope(store.snapshot.get(probe).name).target_ids
        store.close()
        registry.close()
