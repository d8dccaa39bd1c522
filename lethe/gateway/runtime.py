"""Everything a running app holds: settings, engine, forget store, loaders, pipeline and
serving classes.

Built by the app's lifespan at start-up (never at import or ``create_app`` time) and handed to
requests as lifespan state; routes reach it through the dependencies in
:mod:`lethe.gateway.dependencies`.

The forget store opens in the background like the model loads: ``runtime.store_loader.store``
is ``None`` until then, ``runtime.store`` raises ``Unavailable`` (503) until then. Keep one
``store.snapshot`` for a whole request to see one registry version.

Example:
    >>> runtime = Runtime.start(settings, engine)            # doctest: +SKIP
    >>> runtime.store.snapshot.version                        # doctest: +SKIP
    >>> runtime.close()                                       # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lethe.decoders import Engine
from lethe.gateway.logs import kv
from lethe.gateway.metrics import Metrics, State
from lethe.gateway.pipeline import Pipeline, build_pipeline
from lethe.gateway.readiness import EngineLoader, FollowConfig, Startup, StoreLoader
from lethe.gateway.serving import ChatServing, CompletionServing, ModelServing
from lethe.gateway.serving.admin import AdminServing
from lethe.gateway.serving.admin_access import AdminAccess
from lethe.gateway.serving.assistant_jobs import AssistantTrainer
from lethe.gateway.settings import Settings
from lethe.gateway.store import AfterEngineLoad, build_embedder, open_store, registry_url
from lethe.indices import TargetStore

logger = logging.getLogger(__name__)

SHUTDOWN_JOIN_S = 5.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """The live objects behind one app."""

    settings: Settings
    engine: Engine
    loader: Startup
    store_loader: StoreLoader
    pipeline: Pipeline
    chat: ChatServing
    completions: CompletionServing
    models: ModelServing
    admin: AdminServing
    admin_access: AdminAccess
    metrics: Metrics
    assistant_trainer: AssistantTrainer

    @classmethod
    def start(cls, settings: Settings, engine: Engine, store: TargetStore | None = None) -> Runtime:
        """Wire the serving classes; start loading the model and opening the store (from
        ``settings``, unless ``store`` is given: the caller then owns and closes it).

        Raises ``ConfigurationError`` when the admin API would be open on a public address.
        """
        admin_access = AdminAccess.from_settings(settings)
        engine_loader = EngineLoader(engine)
        follow = None
        if settings.registry_poll_s > 0:
            follow = FollowConfig(
                settings.registry_poll_s, settings.registry_stale_s, registry_url(settings)
            )
        if store is not None:
            store_loader = StoreLoader(
                lambda: store, owned=False, preload=settings.embedder_preload, follow=follow
            )
        else:
            embedder = AfterEngineLoad(build_embedder(settings), engine_loader.join)
            store_loader = StoreLoader(
                lambda: open_store(settings, embedder),
                preload=settings.embedder_preload,
                follow=follow,
            )
        loader = Startup(engine_loader, store_loader)
        metrics = Metrics(lambda: _state(engine, loader))
        pipeline = build_pipeline(
            settings, engine, store_loader.require, on_events=metrics.observe_events
        )
        runtime = cls(
            settings=settings,
            engine=engine,
            loader=loader,
            store_loader=store_loader,
            pipeline=pipeline,
            chat=ChatServing(engine, pipeline, settings),
            completions=CompletionServing(engine, pipeline, settings),
            models=ModelServing(engine, engine_loader),
            admin=AdminServing(store_loader, settings),
            admin_access=admin_access,
            metrics=metrics,
            assistant_trainer=AssistantTrainer(engine.capabilities.assistants),
        )
        loader.start()
        return runtime

    @property
    def store(self) -> TargetStore:
        """The open forget store; ``Unavailable`` (503) while it opens or if it failed."""
        return self.store_loader.require()

    def close(self) -> None:
        """Stop the engine and close the store (at shutdown)."""
        logger.info(kv("engine_closing", engine=type(self.engine).__name__))
        self.engine.close()
        self.pipeline.close()
        self.loader.engine.join(SHUTDOWN_JOIN_S)
        self.store_loader.close(SHUTDOWN_JOIN_S)


def _state(engine: Engine, loader: Startup) -> State:
    """What ``/metrics`` reads at scrape time."""
    store = loader.store.store
    snapshot = store.snapshot if store is not None else None
    queue = None
    if engine.ready:
        stats = engine.stats()
        queue = stats.running + stats.waiting
    return State(
        registry_version=snapshot.version if snapshot is not None else None,
        registry_targets=len(snapshot) if snapshot is not None else None,
        queue_depth=queue,
        ready=loader.state == "ready" and loader.warm,
    )
