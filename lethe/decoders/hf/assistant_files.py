"""Trained assistants on disk: one folder per training run, and a pointer to the current one.

``<root>/<run>/adapter.safetensors`` holds the LoRA weights, ``<root>/<run>/assistant.json``
what they are: the served model they adapt, the layout (layers, rank, alpha), and the forget
set they cover (each target's id and content fingerprint, the registry version). ``<root>/
current`` names the run in use. A run is written completely, then the pointer is replaced
atomically (write a temp file, ``os.replace``): a reader sees the old run or the new one, never
half of one, and a training killed midway leaves only an unreferenced folder behind.

Example:
    >>> run = save_run(root, adapters, meta)          # doctest: +SKIP
    >>> current_run(root) == run                      # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lethe.decoders.hf.lora import LoRALinear, adapter_state
from lethe.indices import ForgetTarget

ADAPTER = "adapter.safetensors"
META = "assistant.json"
POINTER = "current"


@dataclass(frozen=True, slots=True)
class AssistantMeta:
    """What a trained assistant is and covers."""

    model_id: str
    layers: int
    rank: int
    alpha: float
    registry_version: int
    covers: dict[str, str]  # target id -> content fingerprint
    steps: int
    wall_s: float
    peak_rss_mb: float
    final_losses: tuple[float, float]
    trained_at: float

    def covers_target(self, target: ForgetTarget) -> bool:
        """Whether ``target``, as it is now, was in the training set."""
        return self.covers.get(target.id) == fingerprint(target)


def fingerprint(target: ForgetTarget) -> str:
    """A short hash of what training read of ``target`` (names and content): an edited target
    is no longer covered."""
    data = target.model_dump(mode="json", include={"name", "aliases", "content", "retain"})
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def save_run(root: Path, adapters: dict[str, LoRALinear], meta: AssistantMeta) -> Path:
    """Write a run folder, then point ``current`` at it; returns the folder."""
    from safetensors.torch import save_file

    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"run-{meta.registry_version}-{time.strftime('%Y%m%dT%H%M%S')}"
    suffix = 0
    while folder.exists():
        suffix += 1
        folder = folder.with_name(f"{folder.name.split('.')[0]}.{suffix}")
    folder.mkdir()
    save_file(adapter_state(adapters), str(folder / ADAPTER))
    (folder / META).write_text(json.dumps(asdict(meta), indent=2))
    _write_atomically(root / POINTER, folder.name)
    return folder


def current_run(root: Path) -> Path | None:
    """The folder ``current`` names, or None when there is none (or it is gone)."""
    try:
        name = (root / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    folder = root / name
    return folder if (folder / META).is_file() and (folder / ADAPTER).is_file() else None


def read_meta(folder: Path) -> AssistantMeta:
    """The run's :class:`AssistantMeta`."""
    data: dict[str, Any] = json.loads((folder / META).read_text())
    data["final_losses"] = tuple(data["final_losses"])
    return AssistantMeta(**data)


def read_adapter(folder: Path) -> dict[str, Any]:
    """The run's adapter tensors by name."""
    from safetensors.torch import load_file

    return load_file(str(folder / ADAPTER))


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
