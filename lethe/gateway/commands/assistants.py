"""``lethe assistants``: train a contrastive-decoding assistant on the current forget set, and
show the one in use.

``lethe assistants train`` reads every target from the registry of the configured data dir
(or ``LETHE_REGISTRY_URL``), trains a LoRA adapter on the served model's first ``--layers``
layers (ULD: remember the forget content, uniform on retain data; see
``decoders/hf/assistant_training.py``) and makes it the current assistant. A running gateway
picks it up at its next in-scope request when its ``contrastive`` technique has
``assistant: trained``; targets added later stay covered live until the next run.

Example:
    $ lethe assistants train --steps 120
    $ lethe assistants show
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from lethe.gateway.commands import CommandError, usage_handler


def register(subparsers: Any) -> None:
    """Add ``assistants`` to the ``lethe`` parser."""
    parser = subparsers.add_parser(
        "assistants",
        help="train or show the contrastive-decoding assistant",
        description="Train a LoRA assistant on the current forget set (ULD), or show the one "
        "in use. See docs/unlearning.md.",
    )
    parser.set_defaults(handler=usage_handler(parser))
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    train = actions.add_parser("train", help="train on the registry's targets")
    # Unset flags keep TrainConfig's defaults (layers 4, steps 120, rank 8, batch 4, lr 5e-3).
    train.add_argument("--layers", type=int, help="served model layers kept (4)")
    train.add_argument("--steps", type=int, help="optimizer steps (120)")
    train.add_argument("--rank", type=int, help="LoRA rank (8)")
    train.add_argument("--batch-size", type=int, help="examples of each kind per step (4)")
    train.add_argument("--learning-rate", type=float, help="AdamW's (5e-3)")
    train.set_defaults(handler=run_train)
    show = actions.add_parser("show", help="print the current assistant's record (JSON)")
    show.set_defaults(handler=run_show)


def run_train(args: argparse.Namespace) -> int:
    """Train and save; one progress line every 10 steps on stderr."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lethe.decoders.hf.assistant_training import TrainConfig, train_for_targets
    from lethe.decoders.hf.loader import load_model
    from lethe.gateway.settings import get_settings, to_hf_config

    try:
        knobs = ("layers", "rank", "steps", "batch_size", "learning_rate")
        config = TrainConfig(**{k: getattr(args, k) for k in knobs if getattr(args, k) is not None})
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    settings = get_settings()
    if settings.engine != "hf":
        raise CommandError("assistants are trained for the hf engine's model (engine: hf)")
    targets, version = _read_targets(settings)
    if not targets:
        raise CommandError("the registry holds no targets: add some first (lethe forget add)")
    print(f"training on {len(targets)} targets (registry version {version})", file=sys.stderr)
    loaded = load_model(to_hf_config(settings))
    started = time.perf_counter()

    def progress(step: int, steps: int, forget: float, retain: float) -> None:
        if step % 10 == 0 or step == steps:
            print(
                f"step {step}/{steps}  forget {forget:.2f}  retain {retain:.2f}  "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )

    try:
        folder = train_for_targets(
            loaded, targets, version, settings.assistants_dir, config, progress
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(folder)
    return 0


def _read_targets(settings: Any) -> tuple[list[Any], int]:
    """Every target in the registry, and the version read (an own, short-lived store)."""
    from lethe.gateway.serving.assistant_jobs import read_all
    from lethe.gateway.store import open_store

    store = open_store(settings)
    try:
        return read_all(store)
    finally:
        store.close()


def run_show(args: argparse.Namespace) -> int:
    """Print the current run's record, or say there is none (exit 1)."""
    from dataclasses import asdict

    from lethe.decoders.hf.assistant_files import current_run, read_meta
    from lethe.gateway.settings import get_settings

    folder = current_run(get_settings().assistants_dir)
    if folder is None:
        print("no trained assistant yet: run `lethe assistants train`", file=sys.stderr)
        return 1
    record = asdict(read_meta(folder))
    record["covers"] = len(record["covers"])
    print(json.dumps({"folder": str(folder), **record}, indent=2))
    return 0
