"""Serving classes: one per endpoint, between the thin routes and the pipeline."""

from lethe.gateway.serving.chat import ChatServing
from lethe.gateway.serving.completions import CompletionServing
from lethe.gateway.serving.models import ModelServing

__all__ = ["ChatServing", "CompletionServing", "ModelServing"]
