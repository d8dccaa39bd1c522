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
from lethe.gateway.serving.admin import AdminServing


async def get_runtime(request: Request) -> Runtime:
    """The app's runtime (lifespan state)."""
    return request.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_ready(runtime: RuntimeDep) -> None:
    """503 (``Unavailable``) until the model is loaded and the forget store is open."""
    runtime.loader.require_ready()


async def require_store(runtime: RuntimeDep) -> None:
    """503 (``Unavailable``) until the forget store is open (the admin API needs only it)."""
    runtime.store_loader.require()


async def chat_serving(runtime: RuntimeDep) -> ChatServing:
    """The chat completions serving class."""
    return runtime.chat


async def completion_serving(runtime: RuntimeDep) -> CompletionServing:
    """The legacy completions serving class."""
    return runtime.completions


async def model_serving(runtime: RuntimeDep) -> ModelServing:
    """The models serving class."""
    return runtime.models


async def admin_serving(runtime: RuntimeDep) -> AdminServing:
    """The admin API's serving class."""
    return runtime.admin
