"""A bulk importer that runs until it is killed; used by ``test_crash.py``.

Usage: ``python -m tests.indices.crash_importer DATA_DIR FIRST_BATCH``. Imports batches of
``BATCH`` targets (ids ``b<batch>-<i>``), one transaction each, and prints ``version <v>`` after
every committed batch.
"""

from __future__ import annotations

import itertools
import sys

from lethe.indices.store import TargetStore
from lethe.indices.store_types import StoreConfig
from lethe.indices.targets import ForgetTarget
from tests.indices.fakes import HashingEmbedder

BATCH = 40


def batch_targets(batch: int) -> list[ForgetTarget]:
    passage = " ".join(f"word{batch}x{j}" for j in range(400))  # several chunks per target
    return [
        ForgetTarget(
            id=f"b{batch:05d}-{i:03d}",
            kind="document",
            name=f"Document {batch} {i}",
            aliases=[f"Doc {batch}/{i}"],
            content=[passage, {"question": f"Who wrote {batch}-{i}?", "answer": "Ada Quill"}],
        )
        for i in range(BATCH)
    ]


def main(data_dir: str, first_batch: int) -> None:
    config = StoreConfig(background=True, delta_limit=64, upkeep_interval_s=0.05)
    store = TargetStore.open(data_dir, HashingEmbedder(), config=config)
    for batch in itertools.count(first_batch):
        result = store.add_many(batch_targets(batch), batch_size=BATCH)
        print(f"version {result.version}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
