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
