"""What the chat and legacy completion serving classes share.

A serving class owns one endpoint's logic between the thin route and the pipeline: check the
model name, log the request (unknown field names always, bodies only with ``log_bodies``),
convert the wire request into Turns, run them, and shape the outputs.

Example:
    >>> require_model(engine, "gpt-4")   # doctest: +SKIP
    Traceback (most recent call last):
    lethe.errors.NotFound: The model `gpt-4` does not exist or you do not have access to it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import ClassVar

from lethe.decoders import Engine, SamplingParams, Turn
from lethe.errors import NotFound, Timeout, UnsupportedFeature
from lethe.gateway.ids import new_completion_id, system_fingerprint
from lethe.gateway.logs import kv
from lethe.gateway.pipeline import Pipeline
from lethe.gateway.protocol import CompletionMeta, RequestLimits
from lethe.gateway.protocol.common import SamplingFields
from lethe.gateway.request_context import RequestContext
from lethe.gateway.settings import Settings
from lethe.gateway.streams import OutputStream

logger = logging.getLogger("lethe.gateway.serving")


def require_model(engine: Engine, requested: str) -> None:
    """Raise a 404 ``model_not_found`` unless ``requested`` is the served model's id."""
    if requested != engine.model_id:
        raise NotFound(
            f"The model `{requested}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )


class GenerationServing:
    """Base of :class:`ChatServing` and :class:`CompletionServing`."""

    id_prefix: ClassVar[str]
    endpoint: ClassVar[str]

    def __init__(self, engine: Engine, pipeline: Pipeline, settings: Settings) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.settings = settings

    @property
    def timeout_s(self) -> float | None:
        """The deadline of a whole request, or None."""
        return self.settings.request_timeout_s

    def limits(self) -> RequestLimits:
        """The per-request limits of this deployment and engine."""
        return RequestLimits(
            max_n=self.settings.max_n,
            default_max_tokens=self.settings.default_max_tokens,
            max_model_len=self.engine.max_model_len,
        )

    def begin(self, body: SamplingFields, model: str, ctx: RequestContext) -> CompletionMeta:
        """Check the model, log the request; the response's id, timestamp and fingerprint."""
        require_model(self.engine, model)
        extra = body.extra_field_names()
        if extra:
            logger.info(
                kv(
                    "unknown_fields",
                    request_id=ctx.request_id,
                    endpoint=self.endpoint,
                    fields=",".join(extra),
                )
            )
        if self.settings.log_bodies:
            logger.info(
                kv(
                    "request_body",
                    request_id=ctx.request_id,
                    body=body.model_dump_json(exclude_none=True),
                )
            )
        return CompletionMeta(
            id=new_completion_id(self.id_prefix),
            created=int(time.time()),
            model=self.engine.model_id,
            system_fingerprint=system_fingerprint(self.engine.model_id),
        )

    def check_capabilities(self, params: SamplingParams) -> None:
        """Refuse what the engine cannot do (declared in its capabilities)."""
        if params.logit_bias and not self.engine.capabilities.logit_bias:
            raise UnsupportedFeature(
                "logit_bias is not supported by this engine", param="logit_bias"
            )

    async def open_stream(
        self, turns: Sequence[Turn], ctx: RequestContext
    ) -> asyncio.Future[OutputStream]:
        """The request's outputs for an SSE stream, opened or still opening.

        The first outputs are awaited for ``sse_keepalive_s`` at most: what fails by then is
        an HTTP error. A first output that takes longer (a stage holding the answer back) is
        left to the stream's body, which sends keep-alives meanwhile; its errors go in-band.
        """
        opening = asyncio.ensure_future(OutputStream.open(self.pipeline, turns, ctx.trace))
        opening.add_done_callback(lambda f: _mark_first_output(f, ctx))
        try:
            await asyncio.wait({opening}, timeout=self.settings.sse_keepalive_s or None)
        except BaseException:
            opening.cancel()  # OutputStream.open closes what it started
            raise
        if opening.done():
            opening.result()
        return opening

    def deadline(self) -> float | None:
        """The monotonic time after which a stream is cut short, or None."""
        return None if self.timeout_s is None else time.monotonic() + self.timeout_s

    def log_response(self, ctx: RequestContext, body: str) -> None:
        """Log a response body when ``log_bodies`` is on."""
        if self.settings.log_bodies:
            logger.info(kv("response_body", request_id=ctx.request_id, body=body))


def _mark_first_output(opening: asyncio.Future[OutputStream], ctx: RequestContext) -> None:
    if not opening.cancelled() and opening.exception() is None:
        ctx.mark_first_output()


def check_deadline(deadline: float | None) -> None:
    """Raise :class:`Timeout` once ``deadline`` has passed."""
    if deadline is not None and time.monotonic() > deadline:
        raise Timeout("The request ran past the server's time limit.")
