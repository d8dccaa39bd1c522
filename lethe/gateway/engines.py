"""Engine registry: an engine name (the ``engine`` setting) maps to how to check and build it.

Each entry has a cheap ``preflight`` (files exist, values make sense) that the CLI runs before it
binds the port, and a ``build`` that constructs the engine without loading the model (loading
happens in the app's lifespan, in a background thread). A new engine is one more entry here.

Example:
    >>> sorted(ENGINES)
    ['hf', 'upstream', 'vllm']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from lethe.decoders import Engine
from lethe.decoders.vllm.config import require_vllm
from lethe.errors import ConfigurationError
from lethe.gateway.settings import Settings, to_hf_config, to_upstream_config, to_vllm_config
from lethe.gateway.unlearning_config import UnlearningConfig


@dataclass(frozen=True, slots=True)
class EngineEntry:
    """How to vet the settings for one engine, and how to build it."""

    build: Callable[[Settings], Engine]
    preflight: Callable[[Settings], None]


def _hf_preflight(settings: Settings) -> None:
    for name in ("model", "tokenizer"):
        path = getattr(settings, name)
        if path is not None and not Path(path).expanduser().exists():
            raise ConfigurationError(f"{name} file or directory not found: {path}")


def _hf_build(settings: Settings) -> Engine:
    # Imported here: transformers and torch load in seconds, and only the chosen engine's
    # dependencies should be paid for.
    from lethe.decoders.hf.engine import HFEngine

    return HFEngine(to_hf_config(settings))


def _upstream_preflight(settings: Settings) -> None:
    config = to_upstream_config(settings)
    parts = urlsplit(config.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "invalid setting 'upstream_url': an http(s) URL of the upstream's OpenAI root "
            "(e.g. http://127.0.0.1:8080/v1) is required"
        )
    tokenizer = settings.tokenizer
    if tokenizer is None:
        _check_no_token_bans(settings)
    elif _looks_like_path(tokenizer) and not Path(tokenizer).expanduser().exists():
        raise ConfigurationError(f"tokenizer file or directory not found: {tokenizer}")


def _check_no_token_bans(settings: Settings) -> None:
    """Without a local tokenizer the upstream engine cannot name token ids to ban."""
    if not settings.unlearning:
        return
    techniques = UnlearningConfig.load(settings.unlearning_config).techniques
    if any(t.type == "forbidden_tokens" for t in techniques):
        raise ConfigurationError(
            "engine 'upstream' bans forbidden tokens through logit_bias, which needs the "
            "upstream model's tokenizer here: set 'tokenizer' (a directory, a .gguf file or a "
            "cached Hugging Face name), or leave forbidden_tokens out of unlearning_config"
        )


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", ".", "~")) or value.endswith(".gguf")


def _upstream_build(settings: Settings) -> Engine:
    from lethe.decoders.upstream.engine import UpstreamEngine

    return UpstreamEngine(to_upstream_config(settings))


def _vllm_preflight(settings: Settings) -> None:
    config = to_vllm_config(settings)
    for name, value in (("model", config.model), ("tokenizer", config.tokenizer)):
        path = None if value is None else str(value)
        if path and _looks_like_path(path) and not Path(path).expanduser().exists():
            raise ConfigurationError(f"{name} file or directory not found: {value}")
    require_vllm()


def _vllm_build(settings: Settings) -> Engine:
    # vLLM itself is imported when the engine loads, never here.
    from lethe.decoders.vllm.engine import VLLMEngine

    return VLLMEngine(to_vllm_config(settings))


ENGINES: MappingProxyType[str, EngineEntry] = MappingProxyType(
    {
        "hf": EngineEntry(build=_hf_build, preflight=_hf_preflight),
        "upstream": EngineEntry(build=_upstream_build, preflight=_upstream_preflight),
        "vllm": EngineEntry(build=_vllm_build, preflight=_vllm_preflight),
    }
)


def engine_entry(settings: Settings) -> EngineEntry:
    """The registry entry for ``settings.engine``; a clear error for an unknown name."""
    entry = ENGINES.get(settings.engine)
    if entry is None:
        known = ", ".join(sorted(ENGINES))
        raise ConfigurationError(
            f"invalid setting 'engine': unknown engine '{settings.engine}' (known: {known})"
        )
    return entry


def preflight_engine(settings: Settings) -> None:
    """Cheap checks of the engine's settings, run before anything is bound or loaded."""
    engine_entry(settings).preflight(settings)


def build_engine(settings: Settings) -> Engine:
    """Check and construct the configured engine (the model is not loaded yet)."""
    entry = engine_entry(settings)
    entry.preflight(settings)
    return entry.build(settings)
