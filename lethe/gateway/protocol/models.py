"""``GET /v1/models`` and ``GET /v1/models/{id}`` bodies.

Example:
    >>> ModelList(data=[ModelCard(id="m", created=0)]).model_dump()["data"][0]["owned_by"]
    'lethe'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ModelCard(BaseModel):
    """One served model."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "lethe"


class ModelList(BaseModel):
    """Every served model (one per deployment)."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
