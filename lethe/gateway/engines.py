"""Engine registry: an engine name (the ``engine`` setting) maps to how to check and build it.

Each entry has a cheap ``preflight`` (files exist, values make sense) that the CLI runs before it
binds the port, and a ``build`` that constructs the engine without loading the model (loading
happens in the app's lifespan, in a background thread). A new engine is one more entry here.

Example:
    >>> sorted(ENGINES)
    ['hf']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from lethe.decoders import Engine
from lethe.errors import ConfigurationError
from lethe.gateway.settings import Settings, to_hf_config


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


ENGINES: MappingProxyType[str, EngineEntry] = MappingProxyType(
    {"hf": EngineEntry(build=_hf_build, preflight=_hf_preflight)}
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
