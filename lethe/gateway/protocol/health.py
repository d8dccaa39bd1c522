"""``/healthz`` and ``/readyz`` bodies.

Example:
    >>> Readiness(model="m").model_dump()
    {'status': 'ready', 'model': 'm'}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    """The process is up and its model has not failed to load."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """The model is loaded and requests are served."""

    status: Literal["ready"] = "ready"
    model: str
