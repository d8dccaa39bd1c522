"""Forbidden-token masking with rollback (GUARD-style), for engines with per-step logits.

Detection is at text level on the decoded stream, so it holds for *any* tokenisation the model
chooses ("Paris", "Par"+"is", "P"+"a"+"ris"). When a forbidden string completes, the engine cuts
the sequence back to the first token of the match and this processor bans that token *at that
position*; decoding continues from there and may take another path, which is caught the same
way. Bans are positional: a ban at position p only holds while the tokens before p are the ones
that led to it, so a rollback to an earlier position drops the later bans. After
``max_rollbacks`` the choice ends cleanly with the refusal.

A request that touches no target gets no instance of this at all.

Example:
    >>> mask = ForbiddenTokenMask(["Paris"], refusal="I'm not familiar with that.")
    >>> mask.on_rollback(3, 42)
    >>> mask.banned_at(3)
    frozenset({42})
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from lethe.decoders.forbidden import ForbiddenStrings
from lethe.decoders.processors import SequenceView

DEFAULT_MAX_ROLLBACKS = 32


class ForbiddenTokenMask:
    """A :class:`~lethe.decoders.processors.LogitsProcessor` and ``TextMonitor`` in one."""

    def __init__(
        self,
        strings: Iterable[str],
        *,
        refusal: str,
        max_rollbacks: int = DEFAULT_MAX_ROLLBACKS,
    ) -> None:
        self.strings = ForbiddenStrings(strings)
        self.refusal = refusal
        self.max_rollbacks = max_rollbacks
        self.rollbacks = 0
        self._bans: dict[int, set[int]] = {}

    def __call__(self, seq: SequenceView, logits: torch.Tensor) -> torch.Tensor:
        """Ban the tokens that already led into a forbidden string at this position."""
        banned = self._bans.get(len(seq.output_ids))
        if banned:
            logits[list(banned)] = float("-inf")
        return logits

    def violation(self, text: str, start: int, *, final: bool) -> int | None:
        """Offset of the earliest completed forbidden string in ``text[start:]``."""
        return self.strings.violation(text, start, final=final)

    def hold(self, text: str) -> int:
        """Trailing characters that may still become a forbidden string."""
        return self.strings.hold(text)

    def on_rollback(self, position: int, token_id: int | None) -> None:
        """Forget bans past ``position`` (their prefix is gone); ban ``token_id`` there when
        this monitor caused the rollback."""
        self._bans = {p: ids for p, ids in self._bans.items() if p <= position}
        if token_id is not None:
            self.rollbacks += 1
            self._bans.setdefault(position, set()).add(token_id)

    def banned_at(self, position: int) -> frozenset[int]:
        """Tokens banned at ``position`` (for tests and debugging)."""
        return frozenset(self._bans.get(position, ()))
