"""An ONNX Runtime embedder: the same sentence-transformers model, 2-4x faster on a small CPU.

:class:`OnnxEmbedder` follows the :class:`~lethe.indices.embedder.Embedder` contract. It runs a
plain mean-pooled BERT-like sentence-transformers folder (by default the packaged
all-MiniLM-L6-v2) through ONNX Runtime instead of torch:

* **Export, once.** ``transformers``' model + mean pooling + L2 normalisation (what the folder's
  ``modules.json`` and ``1_Pooling/config.json`` describe) is exported with
  ``torch.onnx.export``, traced with a padded batch so that the attention mask is part of the
  graph, then checked against torch on a padded batch (cosine >= 0.9999, else it refuses).
  ``int8`` quantises that file with ``quantize_dynamic`` (int8 weights, per channel).
* **Cache.** With ``cache_dir`` the file is kept in ``<cache_dir>/<model>-<precision>-<hash>/``
  (the hash covers the model files, the precision and the exporter's versions), written to a
  temporary folder then renamed, so a crash never leaves half a model. Exporting takes ~4 s
  (+2 s to quantise); loading a cached file ~0.2 s and imports neither torch nor transformers.
  Without ``cache_dir`` every load exports into a temporary folder.
* **Tokenisation** uses the folder's ``tokenizer.json`` through ``tokenizers`` directly, one
  text at a time (no hidden thread pool): truncation to the model's ``max_seq_length`` (256 for
  MiniLM), no fixed padding. A call is sorted by token length and run in batches of
  ``batch_size`` padded to their longest text (fp32: 8; int8: 1, see :data:`BATCH_SIZE`).
* **Threads and priority** as in :class:`~lethe.indices.embedder.SentenceTransformerEmbedder`:
  calls are serialised by one :class:`~lethe.indices.embedder.PriorityLock` (queries go before
  waiting bulk slices); up to :data:`~lethe.indices.embedder.SMALL_BATCH` texts run on
  ``small_batch_threads`` ORT threads, bigger calls on ``batch_threads`` (one session per
  distinct count; ``None`` is ORT's default, all cores).

Names: ``fp32`` gives the torch model's vectors to ~1e-6 (cosine > 0.99999), so it keeps the
torch embedder's name and a registry written by either opens with the other. ``int8`` vectors
differ (cosine to torch ~0.99 on average, ~0.97 at worst), so its name ends in ``-int8`` and a
registry embedded with another name refuses to open with it (see ``Registry.bind``).

Example:
    >>> ModelFolder.read(default_model_path()).max_length   # what a text is truncated to
    256
    >>> emb = OnnxEmbedder(precision="int8", cache_dir=tmp)  # doctest: +SKIP
    >>> emb.name, emb.dim                                    # nothing loaded yet # doctest: +SKIP
    ('all-MiniLM-L6-v2-int8', 384)
    >>> emb.embed(["Who was Einstein?"]).shape               # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from lethe.errors import ConfigurationError
from lethe.indices.embedder import (
    DEFAULT_MODEL_NAME,
    SMALL_BATCH,
    PriorityLock,
    default_model_path,
    dim_from_config,
)

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "int8"]
Optimization = Literal["basic", "extended", "all"]
EXPORT_ID: Final = "lethe-onnx-1"  # change when the export or quantisation changes
INPUTS: Final = ("input_ids", "attention_mask", "token_type_ids")
# Texts per ORT run. int8 runs one text at a time: dynamic quantisation scales activations per
# batch, so a text's vector would shift (cosine ~0.99) with the texts batched next to it.
BATCH_SIZE: Final[dict[str, int]] = {"fp32": 8, "int8": 1}
_CHECK_TEXTS: Final = ("Who was Albert Einstein?", "a", "Der Rhein fließt durch Basel. " * 8)
_POOLING: Final = "sentence_transformers.models.Pooling"
_ALLOWED: Final = frozenset(
    f"sentence_transformers.models.{n}" for n in ("Transformer", "Pooling", "Normalize")
)


@dataclass(frozen=True, slots=True)
class ModelFolder:
    """What the ONNX backend needs of a sentence-transformers folder, read from its config."""

    path: Path
    max_length: int
    lowercase: bool

    @classmethod
    def read(cls, path: Path) -> ModelFolder:
        """Check ``path`` is a Transformer + mean Pooling (+ Normalize) model and read it."""
        try:
            modules = json.loads((path / "modules.json").read_text())
            pooling = next(m for m in modules if m.get("type") == _POOLING)
            mode = json.loads((path / pooling["path"] / "config.json").read_text())
            st = _json_or_empty(path / "sentence_bert_config.json")
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError, KeyError, StopIteration) as exc:
            raise ConfigurationError(
                f"no sentence-transformers model in {path} ({exc})", param="embedder_model"
            ) from None
        modes = {k for k, v in mode.items() if k.startswith("pooling_mode_") and v}
        if any(m.get("type") not in _ALLOWED for m in modules) or modes != {
            "pooling_mode_mean_tokens"
        }:
            raise ConfigurationError(
                f"{path}: the onnx backend runs Transformer + mean Pooling (+ Normalize) models "
                "only; use embedder_backend=torch",
                param="embedder_backend",
            )
        limit = int(config.get("max_position_embeddings", 512))
        max_length = min(int(st.get("max_seq_length") or limit), limit)
        return cls(path, max_length, bool(st.get("do_lower_case", False)))


def _json_or_empty(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


class OnnxEmbedder:
    """A sentence-transformers model through ONNX Runtime on CPU; lazy and thread-safe."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        precision: Precision = "fp32",
        cache_dir: str | Path | None = None,
        name: str | None = None,
        batch_size: int | None = None,
        small_batch_threads: int | None = 1,
        batch_threads: int | None = 1,
        optimization: Optimization = "extended",
    ) -> None:
        if precision not in ("fp32", "int8"):
            raise ConfigurationError(f"unknown precision {precision!r}", param="embedder_backend")
        if importlib.util.find_spec("onnxruntime") is None:
            raise ConfigurationError(
                "the onnx embedder backend needs onnxruntime (pip install onnxruntime onnx), "
                "or set embedder_backend=torch",
                param="embedder_backend",
            )
        self._path = Path(model_path) if model_path is not None else None
        self._base = self._path.name if self._path is not None else DEFAULT_MODEL_NAME
        self._name = name or (self._base if precision == "fp32" else f"{self._base}-int8")
        self._precision: Precision = precision
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._batch_size = batch_size or BATCH_SIZE[precision]
        self._threads = (small_batch_threads, batch_threads)
        self._optimization = optimization
        self._lock = PriorityLock()
        self._sessions: dict[int | None, Any] = {}
        self._tokenizer: Any = None
        self._lowercase = False
        self._dim: int | None = None

    @property
    def name(self) -> str:
        """The model's name; ``-int8`` is appended for the quantised model (other vectors)."""
        return self._name

    @property
    def dim(self) -> int:
        """The vector dimension, read from the model's pooling config (nothing is loaded)."""
        if self._dim is None:
            self._dim = dim_from_config(self._path or default_model_path())
        if self._dim is None:
            raise ConfigurationError(f"no pooling config in {self._path}", param="embedder_model")
        return self._dim

    @property
    def precision(self) -> Precision:
        """``fp32`` or ``int8``."""
        return self._precision

    def load(self) -> None:
        """Export (or find in the cache) and load the model now instead of on first ``embed``."""
        with self._lock.hold(urgent=True):
            self._load_locked()

    def _load_locked(self) -> None:
        if self._sessions:
            return
        folder = ModelFolder.read(self._path or default_model_path())
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder.path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(folder.max_length)
        threads = set(self._threads)
        if self._cache_dir is not None:
            model: Path | bytes = cached_model(
                folder, self._precision, self._cache_dir, label=self._base
            )
        else:
            with tempfile.TemporaryDirectory(prefix="lethe-onnx-") as tmp:
                model = build_model(folder, self._precision, Path(tmp)).read_bytes()
        self._sessions = {t: _session(model, t, self._optimization) for t in threads}
        self._tokenizer, self._lowercase = tokenizer, folder.lowercase
        logger.info("event=embedder_loaded name=%s dim=%d backend=onnx", self._name, self.dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 embeddings of ``texts``, shape ``(len(texts), dim)``."""
        small = len(texts) <= SMALL_BATCH
        with self._lock.hold(urgent=small):
            self._load_locked()
            out = np.empty((len(texts), self.dim), dtype=np.float32)
            if not texts:
                return out
            session = self._sessions[self._threads[0] if small else self._threads[1]]
            lower = self._lowercase
            encodings = [self._tokenizer.encode(t.lower() if lower else t) for t in texts]
            order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
            for start in range(0, len(order), self._batch_size):
                rows = order[start : start + self._batch_size]
                out[rows] = session.run(None, padded([encodings[i] for i in rows]))[0]
        return out


def padded(encodings: Sequence[Any]) -> dict[str, np.ndarray]:
    """The model's int64 inputs for ``encodings``, right-padded with 0 to the longest."""
    width = max(len(e.ids) for e in encodings)
    feeds = {name: np.zeros((len(encodings), width), dtype=np.int64) for name in INPUTS}
    for row, e in enumerate(encodings):
        n = len(e.ids)
        feeds["input_ids"][row, :n] = e.ids
        feeds["attention_mask"][row, :n] = e.attention_mask
        feeds["token_type_ids"][row, :n] = e.type_ids
    return feeds


def _session(model: Path | bytes, threads: int | None, optimization: Optimization) -> Any:
    """An ORT CPU session on ``threads`` intra-op threads (no spinning when more than one)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if threads != 1:  # a spinning worker would burn the core the decoder needs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


# -- export and cache ---------------------------------------------------------------------------


def cached_model(folder: ModelFolder, precision: Precision, cache_dir: Path, label: str) -> Path:
    """``model.onnx`` of ``folder`` at ``precision`` in ``cache_dir``, built on first use.

    The entry is ``<label>-<precision>-<hash>/``; int8 reuses (and caches) the fp32 export.
    """
    entry = cache_dir / f"{label}-{precision}-{_fingerprint(folder, precision)}"
    target = entry / "model.onnx"
    if target.is_file():
        return target
    source = cached_model(folder, "fp32", cache_dir, label) if precision == "int8" else None
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir))
    try:
        build_model(folder, precision, tmp, fp32=source)
        try:
            os.replace(tmp, entry)
        except OSError:
            if not target.is_file():  # another process did not just write it: a real error
                raise
        logger.info("event=embedder_cache_written path=%s", entry)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_model(
    folder: ModelFolder, precision: Precision, out_dir: Path, *, fp32: Path | None = None
) -> Path:
    """Write ``out_dir/model.onnx`` (exported, checked, quantised for int8) and its metadata."""
    target = out_dir / "model.onnx"
    if precision == "fp32":
        export_fp32(folder, target)
    else:
        if fp32 is None:
            fp32 = export_fp32(folder, out_dir / "fp32.onnx")
        quantize_int8(fp32, target)
        feeds = _check_feeds(folder)
        _check(target, feeds, _session(fp32, 1, "basic").run(None, feeds)[0], minimum=0.95)
        (out_dir / "fp32.onnx").unlink(missing_ok=True)
    meta = {"source": str(folder.path), "precision": precision, "versions": _versions()}
    (out_dir / "export.json").write_text(json.dumps(meta, indent=2))
    return target


def export_fp32(folder: ModelFolder, target: Path) -> Path:
    """Export the model + mean pooling + normalisation to ONNX at ``target``, then check it."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder.path), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    pooled = Pooled().eval()
    sample = _check_feeds(folder)
    args = tuple(torch.from_numpy(sample[name]) for name in INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and trace notes
        torch.onnx.export(
            pooled, args, str(target), dynamo=False, opset_version=17,
            input_names=list(INPUTS), output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
        )  # fmt: skip
        expected = pooled(*args).numpy()
    _check(target, sample, expected, minimum=0.9999)
    return target


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation (int8 weights per channel, uint8 activations per tensor)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    hush = _BelowError()
    root.addFilter(hush)  # quantize_dynamic logs ~50 notes and an advice on the root logger
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(hush)


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


def _check_feeds(folder: ModelFolder) -> dict[str, np.ndarray]:
    """A padded batch of varied lengths: traces the mask, and checks the exported graph."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder.path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(folder.max_length)
    return padded(tokenizer.encode_batch(list(_CHECK_TEXTS)))


def _check(model: Path, feeds: dict[str, np.ndarray], expected: np.ndarray, minimum: float) -> None:
    got = _session(model, 1, "basic").run(None, feeds)[0]
    agreement = float(np.min(np.sum(got * expected, axis=1)))
    if agreement < minimum:
        raise ConfigurationError(
            f"the ONNX export of {model.name} disagrees with torch (cosine {agreement:.5f}); "
            "use embedder_backend=torch",
            param="embedder_backend",
        )


def _fingerprint(folder: ModelFolder, precision: Precision) -> str:
    """A hash of the model's files (path, size, mtime), the precision and the tool versions."""
    parts = [EXPORT_ID, precision, str(folder.path.resolve()), json.dumps(_versions())]
    for file in sorted(p for p in folder.path.rglob("*") if p.is_file()):
        stat = file.stat()
        parts.append(f"{file.relative_to(folder.path)}|{stat.st_size}|{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _versions() -> dict[str, str]:
    found = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "-"
    return found
