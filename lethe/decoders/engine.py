"""The one interface the pipeline talks to: :class:`Engine`.

Engines declare what they can do in :class:`Capabilities`; a configuration that needs more than
the engine offers fails at start-up (see ``Capabilities.require``), not on the first request.

Example:
    >>> caps = Capabilities(logits=True, logit_bias=True, rollback=True)
    >>> caps.require("logits", "rollback")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Protocol

from lethe.decoders.output import GenerationOutput
from lethe.decoders.processors import ProcessorFactory
from lethe.decoders.turn import Turn
from lethe.errors import ConfigurationError

if TYPE_CHECKING:
    from lethe.decoders.contrastive import Assistants
    from lethe.decoders.token_bans import Vocabulary


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an engine offers.

    ``logits``: per-step logits, so logits processors run. ``logit_bias``: additive token biases.
    ``rollback``: a sequence can be rewound a few tokens. ``assistant``: a second model can step
    in lockstep (contrastive decoding). ``streaming``: deltas as they are produced.
    ``assistants``: contrastive-decoding factories over the engine's own model (with
    ``assistant``). ``vocabulary``: the served model's tokenizer, for techniques that must name
    token ids (forbidden-token bans on an engine without rollback); None when the engine has
    none here (an upstream server without a local tokenizer configured).
    """

    logits: bool = False
    logit_bias: bool = False
    rollback: bool = False
    assistant: bool = False
    streaming: bool = True
    vocabulary: Vocabulary | None = field(default=None, compare=False)
    assistants: Assistants | None = field(default=None, compare=False)

    def require(self, *names: str) -> None:
        """Raise :class:`ConfigurationError` naming every capability asked for and missing."""
        known = {f.name for f in fields(self)}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigurationError(f"unknown capabilities: {', '.join(unknown)}")
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            needed = ", ".join(missing)
            raise ConfigurationError(f"the engine lacks required capabilities: {needed}")


@dataclass(frozen=True, slots=True)
class EngineStats:
    """A point-in-time view of the engine's load, for readiness and metrics."""

    running: int
    waiting: int
    max_waiting: int


class Engine(Protocol):
    """A model that turns a :class:`Turn` into a stream of :class:`GenerationOutput`."""

    @property
    def model_id(self) -> str:
        """The name clients use in ``model``."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this engine can do."""
        ...

    @property
    def max_model_len(self) -> int:
        """Context window in tokens (prompt plus completion)."""
        ...

    @property
    def ready(self) -> bool:
        """True once the model is loaded and requests are accepted."""
        ...

    def load(self) -> None:
        """Load the model (blocking); after it returns, ``ready`` is True."""
        ...

    def generate(
        self, turn: Turn, processors: Sequence[ProcessorFactory] = ()
    ) -> AsyncIterator[GenerationOutput]:
        """Stream the outputs of every choice of ``turn``, interleaved, each ending finished.

        Validation errors (context too long, bad params) and admission errors
        (:class:`~lethe.errors.Overloaded`) are raised on the first iteration, before anything
        is yielded. Closing the iterator early cancels the request.
        """
        ...

    def stats(self) -> EngineStats:
        """Current queue depth and running batch size."""
        ...

    def close(self) -> None:
        """Stop the engine's worker and free the model."""
        ...
