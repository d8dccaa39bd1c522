"""``GET /v1/models`` and ``GET /v1/models/{id}``: the one served model.

Example:
    >>> ModelServing(engine, loader).list().data[0].id   # doctest: +SKIP
    'SmolLM2-135M-Instruct'
"""

from __future__ import annotations

from lethe.decoders import Engine
from lethe.gateway.protocol import ModelCard, ModelList
from lethe.gateway.readiness import EngineLoader
from lethe.gateway.serving.common import require_model


class ModelServing:
    """Describes the served model; ``created`` is when it finished loading."""

    def __init__(self, engine: Engine, loader: EngineLoader) -> None:
        self._engine = engine
        self._loader = loader

    def _card(self) -> ModelCard:
        return ModelCard(id=self._engine.model_id, created=self._loader.loaded_at or 0)

    def list(self) -> ModelList:
        """Every served model."""
        return ModelList(data=[self._card()])

    def retrieve(self, model_id: str) -> ModelCard:
        """The model ``model_id``, or a 404 ``model_not_found``."""
        require_model(self._engine, model_id)
        return self._card()
