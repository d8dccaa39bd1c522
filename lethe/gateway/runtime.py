"""Everything a running app holds: settings, engine, loader, pipeline and serving classes.

Built by the app's lifespan at start-up (never at import or ``create_app`` time) and handed to
requests as lifespan state; routes reach it through the dependencies in
:mod:`lethe.gateway.dependencies`.

Example:
    >>> runtime = Runtime.start(settings, engine)   # doctest: +SKIP
    >>> runtime.close()                              # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lethe.decoders import Engine
from lethe.gateway.logs import kv
from lethe.gateway.pipeline import Pipeline, build_pipeline
from lethe.gateway.readiness import EngineLoader
from lethe.gateway.serving import ChatServing, CompletionServing, ModelServing
from lethe.gateway.settings import Settings

logger = logging.getLogger(__name__)

SHUTDOWN_JOIN_S = 5.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """The live objects behind one app."""

    settings: Settings
    engine: Engine
    loader: EngineLoader
    pipeline: Pipeline
    chat: ChatServing
    completions: CompletionServing
    models: ModelServing

    @classmethod
    def start(cls, settings: Settings, engine: Engine) -> Runtime:
        """Wire the serving classes and start loading the model in the background."""
        pipeline = build_pipeline(settings, engine)
        loader = EngineLoader(engine)
        runtime = cls(
            settings=settings,
            engine=engine,
            loader=loader,
            pipeline=pipeline,
            chat=ChatServing(engine, pipeline, settings),
            completions=CompletionServing(engine, pipeline, settings),
            models=ModelServing(engine, loader),
        )
        loader.start()
        return runtime

    def close(self) -> None:
        """Stop the engine (at shutdown)."""
        logger.info(kv("engine_closing", engine=type(self.engine).__name__))
        self.engine.close()
        self.loader.join(SHUTDOWN_JOIN_S)
