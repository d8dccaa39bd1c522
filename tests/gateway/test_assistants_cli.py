"""``lethe assistants``: train on the registry's targets with the real model (two steps, one
layer: the mechanics, not the quality, which benchmarks/unlearning_ablation.py measures), show
the run, and the clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lethe.gateway.settings import Settings
from lethe.gateway.store import open_store
from lethe.indices import ForgetTarget
from tests.gateway.serve_process import data_dir_sharing_weights

ADA = ForgetTarget.model_validate(
    {
        "id": "ada",
        "kind": "entity",
        "name": "Ada Quill",
        "content": ["Ada Quill lives in Tartu.", "Ada Quill builds telescopes."],
    }
)


def lethe(data: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LETHE_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "lethe.gateway.cli", "assistants", *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def data_dir(tmp_path: Path) -> Path:
    return data_dir_sharing_weights(tmp_path / "data")


@pytest.mark.model
@pytest.mark.embedder
def test_train_then_show(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    store = open_store(Settings(data_dir=data))
    store.add(ADA)
    store.close()
    done = lethe(data, "train", "--steps", "2", "--layers", "1")
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert folder.parent == data / "assistants" and (folder / "adapter.safetensors").is_file()
    assert "training on 1 targets (registry version 1)" in done.stderr
    assert "step 2/2" in done.stderr
    shown = lethe(data, "show")
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["covers"], record["layers"], record["steps"]) == (1, 1, 2)
    assert record["model_id"] == "smollm2-135m-instruct" and record["registry_version"] == 1


@pytest.mark.embedder
@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("show",), 1, "no trained assistant yet"),
        ((), 2, "usage: lethe assistants"),
        (("train", "--steps", "0"), 2, "must be >= 1"),
        (("train",), 2, "the registry holds no targets"),
    ],
)
def test_clear_errors(tmp_path: Path, argv: tuple[str, ...], code: int, message: str) -> None:
    done = lethe(data_dir(tmp_path), *argv)
    assert (done.returncode, "Traceback" in done.stderr) == (code, False), done.stderr
    assert message in done.stderr
