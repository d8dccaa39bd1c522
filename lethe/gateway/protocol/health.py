"""``/healthz`` and ``/readyz`` bodies.

Example:
    >>> Readiness(model="m", registry_version=3).model_dump()
    {'status': 'ready', 'model': 'm', 'registry_version': 3}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    """The process is up and its model has not failed to load."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """The model is loaded and requests are served, with this forget-registry version (a load
    balancer can hold a replica out until it has caught up)."""

    status: Literal["ready"] = "ready"
    model: str
    registry_version: int
