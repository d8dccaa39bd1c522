"""The request pipeline: the seam between a :class:`~lethe.decoders.Turn` and the engine.

The serving classes never call the engine's ``generate`` themselves; they call
``pipeline.generate(turn)``. Today the pipeline is :class:`EnginePipeline`, which goes straight
to the engine. The unlearning pipeline (scope → prompt rewrite → logits processors → output
filter, see DESIGN.md) is another :class:`Pipeline` returned by :func:`build_pipeline`; routes and
serving classes do not change when it arrives.

Example:
    >>> pipeline = EnginePipeline(engine)            # doctest: +SKIP
    >>> outputs = pipeline.generate(turn)            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from lethe.decoders import Engine, GenerationOutput, Turn
from lethe.gateway.settings import Settings


class Pipeline(Protocol):
    """Turns one :class:`Turn` into the engine-shaped stream of outputs, stages included.

    Same contract as :meth:`Engine.generate`: errors are raised on the first iteration, before
    anything is yielded; closing the iterator cancels the request.
    """

    def generate(self, turn: Turn) -> AsyncIterator[GenerationOutput]:
        """Stream the outputs of every choice of ``turn``, interleaved, each ending finished."""
        ...


class EnginePipeline:
    """The pipeline with no stages: the Turn goes to the engine as it is."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def generate(self, turn: Turn) -> AsyncIterator[GenerationOutput]:
        """The engine's own stream, with no logits processors."""
        return self._engine.generate(turn)


def build_pipeline(settings: Settings, engine: Engine) -> Pipeline:
    """The pipeline this deployment runs; later stages are assembled here from settings."""
    return EnginePipeline(engine)
