"""The request pipeline: the seam between a :class:`~lethe.decoders.Turn` and the engine.

The serving classes never call the engine's ``generate`` themselves; they call
``pipeline.generate(turn, trace)``. :func:`build_pipeline` returns the unlearning pipeline
(scope → prompt techniques → decode with processors → output filter → audit, see
:mod:`lethe.gateway.unlearning`), or with ``unlearning: false`` the bare
:class:`EnginePipeline`, which goes straight to the engine.

Example:
    >>> pipeline = EnginePipeline(engine)            # doctest: +SKIP
    >>> outputs = pipeline.generate(turn)            # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from lethe.decoders import Engine, GenerationOutput, Turn
from lethe.gateway.settings import Settings, to_judge_config
from lethe.gateway.unlearning import Trace, UnlearningPipeline
from lethe.gateway.unlearning_config import UnlearningConfig
from lethe.guards.agentic import EngineJudge
from lethe.indices import AuditEvent, TargetStore


class Pipeline(Protocol):
    """Turns one :class:`Turn` into the engine-shaped stream of outputs, stages included.

    Same contract as :meth:`Engine.generate`: errors are raised on the first iteration, before
    anything is yielded; closing the iterator cancels the request. ``trace``, when given,
    collects what the stages did (for the operator's debug view).
    """

    def generate(self, turn: Turn, trace: Trace | None = None) -> AsyncIterator[GenerationOutput]:
        """Stream the outputs of every choice of ``turn``, interleaved, each ending finished."""
        ...

    def close(self) -> None:
        """Flush and stop whatever the pipeline runs in the background."""
        ...


class EnginePipeline:
    """The pipeline with no stages: the Turn goes to the engine as it is."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def generate(self, turn: Turn, trace: Trace | None = None) -> AsyncIterator[GenerationOutput]:
        """The engine's own stream, with no logits processors."""
        return self._engine.generate(turn)

    def close(self) -> None:
        """Nothing runs in the background."""


def build_pipeline(
    settings: Settings,
    engine: Engine,
    store: Callable[[], TargetStore],
    *,
    on_events: Callable[[Sequence[AuditEvent]], None] | None = None,
) -> Pipeline:
    """The pipeline this deployment runs. ``store`` returns the open forget store (it opens in
    the background; requests only arrive once it is open); ``on_events`` sees every
    enforcement event (the metrics)."""
    if not settings.unlearning:
        return EnginePipeline(engine)
    config = UnlearningConfig.load(settings.unlearning_config)
    return UnlearningPipeline(
        engine, store, config, judge=build_judge(settings), on_events=on_events
    )


def build_judge(settings: Settings) -> EngineJudge | None:
    """The agentic stage's own judge when ``judge_url`` is set (None: the served engine)."""
    config = to_judge_config(settings)
    if config is None:
        return None
    from lethe.decoders.upstream.engine import UpstreamEngine

    judge = EngineJudge(UpstreamEngine(config), owned=True)
    judge.start()
    return judge
