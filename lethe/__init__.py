"""Lethe: an inference-time unlearning serving layer.

Lethe stands in front of a served LLM as an OpenAI-compatible endpoint and makes the model behave
as if it had never learned a set of forget targets, without changing the model's weights.

Layers (each imports only the ones below it; CI enforces this with import-linter):

    lethe.gateway   HTTP surfaces, request pipeline, settings, CLI
    lethe.guards    scope classifier, in-context unlearning, output filter, agentic unlearning
    lethe.decoders  engines, the generation loop, logits processors
    lethe.indices   forget targets, registry, embedder, FAISS index, lexical matcher

``lethe.errors`` is the one module every layer shares.
"""

__version__ = "0.1.0"
