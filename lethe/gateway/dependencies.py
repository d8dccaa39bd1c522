"""FastAPI dependencies: the pieces of the :class:`Runtime` a route needs.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a thread pool,
which costs more than the dependency itself. Tests replace any of them with
``app.dependency_overrides[chat_serving] = ...``.

Example:
    >>> @router.get("/x")                                    # doctest: +SKIP
    ... async def x(serving: Annotated[ChatServing, Depends(chat_serving)]) -> None: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lethe.gateway.runtime import Runtime
from lethe.gateway.serving import ChatServing, CompletionServing, ModelServing


async def get_runtime(request: Request) -> Runtime:
    """The app's runtime (lifespan state)."""
    return request.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_ready(runtime: RuntimeDep) -> None:
    """503 (``Unavailable``) until the model is loaded."""
    runtime.loader.require_ready()


async def chat_serving(runtime: RuntimeDep) -> ChatServing:
    """The chat completions serving class."""
    return runtime.chat


async def completion_serving(runtime: RuntimeDep) -> CompletionServing:
    """The legacy completions serving class."""
    return runtime.completions


async def model_serving(runtime: RuntimeDep) -> ModelServing:
    """The models serving class."""
    return runtime.models
