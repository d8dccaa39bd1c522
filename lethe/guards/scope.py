"""Scope classifier: which forget targets does this request touch, and what to do about each.

It looks at the whole conversation (every message: system prompt, documents pasted into it,
earlier turns — a target introduced three turns ago is still in scope): lexical mentions of a
target's name, aliases or forbidden strings, and semantic nearness of the text to the target's
name and content. Each hit target gets a decision:

- ``guard``: in scope; the request runs with the target's unlearning techniques;
- ``refuse``: in scope and the target's policy is ``refuse``: the request is declined;
- ``pass``: near, but below the target's threshold, or near by meaning alone yet at least as
  near to one of the target's retain examples (what must keep working next to it): nothing is
  done.

Only the top ``k`` targets come back from the index, so the cost does not grow with the
registry. Semantic thresholds come from the target's policy, else a default per target kind
(calibrated with ``lethe calibrate``).

Example:
    >>> verdict = ScopeClassifier(store).classify(turn)   # doctest: +SKIP
    >>> [(v.target.name, v.decision) for v in verdict.in_scope]   # doctest: +SKIP
    [('Albert Einstein', 'guard')]
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np

from lethe.decoders import Message, Turn
from lethe.guards.retain_vectors import RetainVectors
from lethe.indices import ForgetTarget, IndexSnapshot, ScopeHit, TargetStore
from lethe.indices.chunking import chunk_text

Decision = Literal["pass", "guard", "refuse"]

DEFAULT_SEMANTIC_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {"entity": 0.55, "fact": 0.6, "document": 0.6, "topic": 0.5}
)


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """One retrieved target, why it was retrieved, and the decision."""

    target: ForgetTarget
    decision: Decision
    lexical: bool
    semantic: float | None
    threshold: float
    retain: float | None = None  # best cosine to the target's retain examples (checked only
    # when the target was near by meaning alone)


@dataclass(frozen=True, slots=True)
class ScopeVerdict:
    """The decisions for one request, at registry ``version``."""

    version: int
    verdicts: tuple[TargetVerdict, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def in_scope(self) -> tuple[TargetVerdict, ...]:
        """Targets decided ``guard`` or ``refuse``."""
        return tuple(v for v in self.verdicts if v.decision != "pass")

    @property
    def refused(self) -> tuple[TargetVerdict, ...]:
        """Targets whose policy declines the request."""
        return tuple(v for v in self.verdicts if v.decision == "refuse")

    @property
    def guarded(self) -> tuple[ForgetTarget, ...]:
        """The in-scope targets (guard or refuse), best first."""
        return tuple(v.target for v in self.in_scope)


@dataclass(frozen=True, slots=True)
class ScopeConfig:
    """How many targets to retrieve and the default semantic threshold per kind."""

    k: int = 10
    max_query_windows: int = 4
    thresholds: Mapping[str, float] = field(default_factory=lambda: DEFAULT_SEMANTIC_THRESHOLDS)


class ScopeClassifier:
    """Decides, per request, which targets are in scope (see the module docstring)."""

    def __init__(self, store: TargetStore, config: ScopeConfig | None = None) -> None:
        self._store = store
        self.config = config or ScopeConfig()
        self._retain = RetainVectors(store.embedder)

    def classify(self, turn: Turn, snapshot: IndexSnapshot | None = None) -> ScopeVerdict:
        """The verdict for ``turn`` against ``snapshot`` (default: the store's current one)."""
        started = time.perf_counter()
        snap = snapshot if snapshot is not None else self._store.snapshot
        text = turn.conversation_text()
        if not len(snap) or not text.strip():
            return ScopeVerdict(snap.version, (), _ms(started))
        queries = self._store.embedder.embed(self._query_texts(turn, text))
        result = snap.scope(text, queries, k=self.config.k, tenant=turn.tenant)
        verdicts = tuple(self._decide(hit, queries) for hit in result.hits)
        return ScopeVerdict(result.version, verdicts, _ms(started))

    def _query_texts(self, turn: Turn, text: str) -> list[str]:
        """The last user message on its own, plus windows over the whole conversation."""
        windows = chunk_text(text)[-self.config.max_query_windows :]
        last_user = _last_user(turn.messages)
        if last_user and last_user not in windows:
            return [last_user, *windows]
        return windows

    def _decide(self, hit: ScopeHit, queries: np.ndarray) -> TargetVerdict:
        """In scope on a lexical mention, or on meaning when the request is nearer to the
        target's content than to its retain examples."""
        target = hit.target
        threshold = target.policy.thresholds.semantic
        if threshold is None:
            threshold = self.config.thresholds.get(target.kind, 0.6)
        score = hit.semantic_score
        semantic_in = score is not None and score >= threshold
        retain = None
        if semantic_in and not hit.lexical and target.retain:
            retain = self._retain.best(target, queries)
            semantic_in = retain is None or retain < score  # type: ignore[operator]
        if not hit.lexical and not semantic_in:
            decision: Decision = "pass"
        else:
            decision = "refuse" if target.policy.action == "refuse" else "guard"
        return TargetVerdict(target, decision, bool(hit.lexical), score, threshold, retain)


def _last_user(messages: tuple[Message, ...]) -> str:
    for m in reversed(messages):
        if m.role == "user":
            return m.content
    return ""


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
