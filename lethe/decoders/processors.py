"""Per-request logits processors: the interface later stages plug into the decoding loop.

A processor sees one sequence and its next-token logits (a 1-D float tensor over the vocabulary)
and returns new logits. Processors may keep per-sequence state (an assistant model's KV cache,
say), so a request carries *factories*: the engine builds a fresh list of processors for every
choice. A request with no processors pays nothing for this interface.

Masking is not argmax-invariant, so greedy requests run their processors too.

Example:
    >>> import torch
    >>> class Ban:
    ...     def __init__(self, token_id: int) -> None:
    ...         self.token_id = token_id
    ...     def __call__(self, seq: SequenceView, logits: torch.Tensor) -> torch.Tensor:
    ...         logits[self.token_id] = float("-inf")
    ...         return logits
    >>> factory: ProcessorFactory = lambda: Ban(3)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch


class SequenceView(Protocol):
    """Read-only view of one sequence being decoded."""

    @property
    def prompt_ids(self) -> Sequence[int]:
        """Token ids of the prompt."""
        ...

    @property
    def output_ids(self) -> Sequence[int]:
        """Token ids generated so far for this choice."""
        ...

    @property
    def text(self) -> str:
        """Text generated so far for this choice (complete UTF-8 characters only)."""
        ...


class LogitsProcessor(Protocol):
    """``(sequence, logits) -> logits`` for one sequence at one step; may modify in place."""

    def __call__(self, seq: SequenceView, logits: torch.Tensor) -> torch.Tensor:
        """Return the processed next-token logits."""
        ...


ProcessorFactory = Callable[[], LogitsProcessor]


class Companion(Protocol):
    """A processor that needs some model's next-token logits after a different prefix:
    ``companion_prefix`` followed by the sequence's prompt and output (contrastive decoding's
    assistant, say).

    An engine can decode that prefix as an extra row of a batch of that model — the served
    model's own running batch when the assistant is the served model — prefilled with the
    prompt, fed the same token every step, rewound with the sequence, and hand the row's logits
    over with ``feed`` before the processor is called; one forward pass per model and step then
    serves every such row. A processor nobody feeds runs its assistant itself.
    """

    @property
    def assistant_model(self) -> object:
        """The model whose logits the processor needs (batched by identity)."""
        ...

    @property
    def companion_prefix(self) -> Sequence[int]:
        """The tokens the companion row holds before the sequence's prompt."""
        ...

    def feed(self, logits: torch.Tensor) -> None:
        """The companion row's logits for the coming step (1-D, over the vocabulary)."""
        ...


def is_companion(processor: object) -> bool:
    """Whether ``processor`` is a :class:`Companion` (it names an assistant model and takes
    its logits through ``feed``)."""
    return (
        getattr(processor, "assistant_model", None) is not None
        and hasattr(processor, "companion_prefix")
        and hasattr(processor, "feed")
    )


class TextMonitor(Protocol):
    """Watches a sequence's decoded text for strings that must never be emitted.

    The engine holds back the last ``hold(text)`` characters (rounded down to a token boundary)
    and, when ``violation`` finds a completed match, rolls the sequence back to the first token
    of the match and calls ``on_rollback`` so the monitor can ban that token at that position.
    After ``max_rollbacks`` (``rollbacks`` counts those it caused) the choice ends with
    ``refusal`` instead (when nothing was emitted yet) or where it stands. A monitor is usually
    also the :class:`LogitsProcessor` that applies its bans.
    """

    max_rollbacks: int
    rollbacks: int
    refusal: str

    def violation(self, text: str, start: int, *, final: bool) -> int | None:
        """Offset of the earliest completed forbidden match in ``text[start:]``, or None."""
        ...

    def hold(self, text: str) -> int:
        """How many trailing characters of ``text`` must not be emitted yet."""
        ...

    def on_rollback(self, position: int, token_id: int | None) -> None:
        """The sequence was cut back to ``position`` output tokens. ``token_id`` is the token
        that led into this monitor's match (ban it there), or None when another monitor caused
        the rollback (only drop what depended on the removed tokens)."""
        ...
