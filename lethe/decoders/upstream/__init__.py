"""The ``upstream`` engine: Lethe in front of any OpenAI-compatible server (see engine.py).

Importing this package imports only the configuration; the engine (httpx, the tokenizer) is
imported where it is built.

Example:
    >>> from lethe.decoders.upstream import UpstreamEngineConfig
    >>> UpstreamEngineConfig("http://127.0.0.1:8080/v1").retries
    2
"""

from lethe.decoders.upstream.config import UpstreamEngineConfig

__all__ = ["UpstreamEngineConfig"]
