"""Loaders that turn public unlearning benchmarks, from local files, into replay suites.

No hub access at run time: each loader reads a directory (or file) the user downloaded before, in
the benchmark's own format. JSON, JSONL and CSV are read with the standard library; Parquet,
Arrow and ``datasets.save_to_disk`` folders need ``pyarrow`` / ``datasets`` installed (see
:mod:`lethe.gateway.replay.loaders.records`).

    tofu.py   TOFU: forget01/05/10 + retain splits, question/answer (fictitious authors)
    muse.py   MUSE knowmem: forget_qa / retain_qa, question/answer (news or books corpus)
    wmdp.py   WMDP: multiple choice (question, choices, answer index), scored by the letter
    rwku.py   RWKU: real-world targets, forget levels 1-3 (level 3: attacks), neighbour probes

:data:`LOADERS` maps the ``--format`` names of ``lethe replay`` to the loaders.
"""

from __future__ import annotations

from collections.abc import Callable

from lethe.gateway.replay.loaders.muse import load_muse
from lethe.gateway.replay.loaders.records import LoaderError
from lethe.gateway.replay.loaders.rwku import load_rwku
from lethe.gateway.replay.loaders.tofu import load_tofu
from lethe.gateway.replay.loaders.wmdp import load_wmdp
from lethe.gateway.replay.suite import Suite

LOADERS: dict[str, Callable[..., Suite]] = {
    "tofu": load_tofu,
    "muse": load_muse,
    "wmdp": load_wmdp,
    "rwku": load_rwku,
}

__all__ = ["LOADERS", "LoaderError", "load_muse", "load_rwku", "load_tofu", "load_wmdp"]
