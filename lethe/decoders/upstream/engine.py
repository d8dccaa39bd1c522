"""The ``upstream`` engine: any OpenAI-compatible server (vLLM serve, llama.cpp's server, a
hosted API, another Lethe) behind Lethe's pipeline.

What it can do (:class:`Capabilities`): ``logit_bias`` (sent along; the ``forbidden_tokens``
technique merges its bans into it, with token ids from a *local* copy of the upstream model's
tokenizer, ``tokenizer`` in the config, offered as the capabilities' ``vocabulary``) and
streaming. Everything done on the prompt or on the output stream (redaction, in-context
unlearning, output filter) runs in the gateway, whatever the engine. It has no per-step logits,
no rollback and no assistant model.

A request: the :class:`Turn` becomes an OpenAI body (``requests.py``), always streamed; the
stream is opened and its status read on the *first* ``__anext__``, so an upstream error surfaces
before anything is yielded (``errors.py`` maps it). SSE chunks become :class:`GenerationOutput`
deltas (``stream.py``). Closing the iterator closes the HTTP response, which drops the upstream
connection mid-answer: cancellation reaches the upstream.

Example:
    >>> engine = UpstreamEngine(UpstreamEngineConfig("http://127.0.0.1:9/v1", model="m"))
    >>> caps = engine.capabilities
    >>> caps.logit_bias, caps.logits, caps.rollback, caps.vocabulary, engine.model_id
    (True, False, False, None, 'm')
    >>> engine.load()                         # no network: the model is configured
    >>> engine.ready, engine.max_model_len
    (True, 32768)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from lethe.decoders.engine import Capabilities, EngineStats
from lethe.decoders.output import GenerationOutput
from lethe.decoders.processors import ProcessorFactory
from lethe.decoders.token_bans import TokenizerVocabulary, load_tokenizer
from lethe.decoders.turn import Turn
from lethe.decoders.upstream.client import UpstreamClient
from lethe.decoders.upstream.config import DEFAULT_MAX_MODEL_LEN, UpstreamEngineConfig
from lethe.decoders.upstream.errors import UNREACHABLE, in_band_error
from lethe.decoders.upstream.requests import request_body
from lethe.decoders.upstream.stream import DONE, ChunkDecoder, sse_data
from lethe.errors import (
    ConfigurationError,
    ContextLengthExceeded,
    EngineError,
    LetheError,
    Unavailable,
    UpstreamError,
)

logger = logging.getLogger(__name__)

DRAIN_S = 1.0
"""How long the end of a stream after ``[DONE]`` is waited for (then the connection is dropped)."""
DISCOVERY_RETRY_S = 2.0


class UpstreamEngine:
    """Proxies generation to an OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self, config: UpstreamEngineConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._client = UpstreamClient(config, transport)
        self._model = config.model
        self._max_model_len = config.max_model_len or 0
        self._ready = False
        self._closed = threading.Event()
        self._running = 0
        tokenizer = config.tokenizer
        self._vocabulary = (
            TokenizerVocabulary(lambda: load_tokenizer(tokenizer)) if tokenizer else None
        )
        self._capabilities = Capabilities(
            logits=False,
            logit_bias=True,
            rollback=False,
            assistant=False,
            streaming=True,
            vocabulary=self._vocabulary,
        )

    @property
    def model_id(self) -> str:
        """The id clients send as ``model``."""
        return self._config.served_model_name or self._model or "unloaded"

    @property
    def capabilities(self) -> Capabilities:
        """``logit_bias`` and streaming; a vocabulary when a local tokenizer is configured."""
        return self._capabilities

    @property
    def max_model_len(self) -> int:
        """Context window in tokens (configured, reported by the upstream, or a default)."""
        return self._max_model_len

    @property
    def ready(self) -> bool:
        """True once :meth:`load` finished."""
        return self._ready

    def load(self) -> None:
        """Load the local tokenizer, and ask the upstream for its model when not configured
        (waiting for an upstream that is not up yet: the gateway stays "loading" meanwhile)."""
        if self._ready:
            return
        if self._vocabulary is not None:
            self._vocabulary.token_texts()  # load and decode the vocabulary once, now
        if self._model is None:
            self._discover(self._wait_for_listing())
        elif not self._max_model_len:
            with contextlib.suppress(LetheError):  # the context window is only a hint
                self._discover(self._client.get_json("/models"))
        self._max_model_len = self._max_model_len or DEFAULT_MAX_MODEL_LEN
        self._ready = True
        logger.info(
            "event=upstream_ready host=%s model=%s max_model_len=%d tokenizer=%s",
            self._client.host,
            self._model,
            self._max_model_len,
            self._vocabulary is not None,
        )

    def _wait_for_listing(self) -> Any:
        """``GET /models``, retried every :data:`DISCOVERY_RETRY_S` while the upstream cannot
        be reached, until it answers or the engine is closed."""
        attempt = 0
        while True:
            try:
                return self._client.get_json("/models")
            except UpstreamError as exc:
                if exc.code != UNREACHABLE:
                    raise ConfigurationError(
                        f"cannot ask the upstream for its model ({exc.message}); set upstream_model"
                    ) from None
            attempt += 1
            if attempt % 10 == 1:
                logger.warning(
                    "event=upstream_waiting host=%s attempts=%d", self._client.host, attempt
                )
            if self._closed.wait(DISCOVERY_RETRY_S):
                raise Unavailable("the upstream engine was closed while it waited")

    def _discover(self, listing: Any) -> None:
        """Take the model name (when not configured) and its context window (when the
        upstream reports one, as vLLM does) from a ``GET /models`` answer."""
        data = listing.get("data") if isinstance(listing, dict) else None
        models = [m for m in data or () if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if self._model is None:
            if not models:
                raise ConfigurationError("the upstream lists no model; set upstream_model")
            self._model = models[0]["id"]
        entry = next((m for m in models if m["id"] == self._model), {})
        reported = entry.get("max_model_len")
        if not self._max_model_len and isinstance(reported, int) and reported > 0:
            self._max_model_len = reported

    def stats(self) -> EngineStats:
        """Requests in flight to the upstream (its own queue is not visible from here)."""
        return EngineStats(self._running, 0, self._config.max_connections)

    def close(self) -> None:
        """Close the connection pools (and stop waiting for the upstream, if it still is)."""
        self._ready = False
        self._closed.set()
        self._client.close()

    async def generate(
        self, turn: Turn, processors: Sequence[ProcessorFactory] = ()
    ) -> AsyncIterator[GenerationOutput]:
        """Stream every choice's outputs; see :meth:`lethe.decoders.Engine.generate`."""
        if not self._ready or self._model is None:
            raise Unavailable("the upstream engine is still starting")
        if processors:
            raise EngineError("the upstream engine cannot run logits processors")
        self._running += 1
        try:
            response = await self._open(turn, self._model)
            try:
                async for output in self._outputs(response, turn):
                    yield output
            except httpx.HTTPError as exc:
                raise self._client.error_of(exc, turn.request_id) from None
            finally:
                await response.aclose()
        finally:
            self._running -= 1

    async def _open(self, turn: Turn, model: str) -> httpx.Response:
        """The upstream's open stream for ``turn``. A default budget the upstream refuses for
        its context window is dropped and the request sent once more: the upstream's own
        default then fills the room left, as the ``hf`` engine clamps its default."""
        path, body = request_body(turn, model)
        try:
            return await self._client.open_stream(path, body, turn.request_id)
        except ContextLengthExceeded:
            if turn.params.max_tokens is not None or turn.params.default_max_tokens is None:
                raise
        logger.info("event=upstream_default_budget_dropped request_id=%s", turn.request_id)
        path, body = request_body(turn, model, default_budget=False)
        return await self._client.open_stream(path, body, turn.request_id)

    async def _outputs(
        self, response: httpx.Response, turn: Turn
    ) -> AsyncIterator[GenerationOutput]:
        decoder = ChunkDecoder(turn.params.n, turn.is_chat)
        done = False
        async with contextlib.aclosing(sse_data(response)) as events:
            async for data in events:
                if data.strip() == DONE:
                    done = True
                    break
                chunk = self._parse(data)
                if "error" in chunk:
                    logger.warning("event=upstream_stream_error request_id=%s", turn.request_id)
                    raise in_band_error(chunk["error"], self._model, self._client.secrets)
                for output in decoder.feed(chunk):
                    yield output
            if not done and not decoder.all_finished:
                raise UpstreamError(
                    "the upstream model server ended its answer before finishing it"
                )
            if done:
                await _drain(events)
        for output in decoder.close():
            yield output

    @staticmethod
    def _parse(data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise UpstreamError("the upstream model server sent a chunk that is not JSON") from None
        if not isinstance(chunk, dict):
            raise UpstreamError("the upstream model server sent a chunk that is not an object")
        return chunk


async def _drain(events: AsyncIterator[str]) -> None:
    """Read what follows ``[DONE]`` (normally only the end of the body) for at most
    :data:`DRAIN_S`, so that the connection goes back to the pool instead of being dropped."""
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(DRAIN_S):
            async for _ in events:
                pass
