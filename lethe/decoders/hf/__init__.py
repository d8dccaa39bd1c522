"""The ``hf`` engine: transformers models (directory or GGUF), decoded by our batched loop."""

from lethe.decoders.hf.config import HFEngineConfig

__all__ = ["HFEngineConfig"]
