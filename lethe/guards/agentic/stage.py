"""Agentic unlearning (ALU): audit a finished draft, rewrite it, rate the rewrites, compose.

For an in-scope request whose targets enable ``agentic``, after the draft answer is complete:

1. **Audit**: the judge says which of the top ``max_targets`` in-scope targets the draft
   reveals (names, descriptions, relations, indirect references), or none: the draft passes.
2. **Rewrite**: ``rewrites`` sampled rewrites without the leaked knowledge (one call, ``n`` of
   them, batched by the engine); a rewrite may be the ``REFUSE`` marker.
3. **Critic**: each rewrite is rated 1-5 (5: reveals nothing), concurrently.
4. **Composer**: the ``compose_top`` best rewrites must average at least ``threshold``; two or
   more are merged by one more call (the best one is kept if that fails), else refusal.

Only the top targets go into the prompts, so calls and prompt length do not grow with the
registry. A draft that addresses its reviewer is refused without asking the judge
(``injection.py``). Any judge failure — an error, an unreadable answer, the per-request
``timeout_s`` — gives the refusal, never the unchecked draft. The output filter still runs on
whatever this stage lets through.

Example:
    >>> stage = AgenticStage(AgenticConfig(), EngineJudge(engine))       # doctest: +SKIP
    >>> review = await stage.review(question, draft, targets, refusal)   # doctest: +SKIP
    >>> review.action, review.reason
    ('rewrite', 'rewritten')
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lethe.guards.agentic.injection import addresses_reviewer
from lethe.guards.agentic.judge import Judge, JudgeCall
from lethe.guards.agentic.parsing import clean_rewrite, parse_audit, parse_rating
from lethe.guards.agentic.prompts import AgenticPrompts, Subject, subjects_of
from lethe.indices import ForgetTarget

logger = logging.getLogger(__name__)

Action = Literal["pass", "rewrite", "refuse"]


@dataclass(frozen=True, slots=True)
class AgenticConfig:
    """The stage's knobs (technique params of ``agentic`` in ``unlearning.yaml``).

    Defaults are the CPU ones: 3 rewrites (5 on a GPU), threshold 4.0 as in the paper.
    """

    rewrites: int = 3
    threshold: float = 4.0
    max_targets: int = 3
    compose_top: int = 2
    timeout_s: float = 60.0
    audit_tokens: int = 24
    rewrite_tokens: int = 160
    critic_tokens: int = 12
    temperature: float = 0.7

    def __post_init__(self) -> None:
        if self.rewrites < 1 or self.max_targets < 1 or self.compose_top < 1:
            raise ValueError("rewrites, max_targets and compose_top must be at least 1")
        if not 1.0 <= self.threshold <= 5.0:
            raise ValueError("threshold must be between 1 and 5")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")


@dataclass(frozen=True, slots=True)
class Review:
    """What the stage decided for one choice; ``text`` is None when the draft passes."""

    action: Action
    reason: str
    text: str | None = None
    leaked: tuple[str, ...] = ()  # target ids the auditor named
    ratings: tuple[int, ...] = ()
    calls: int = 0
    elapsed_ms: float = 0.0


class AgenticStage:
    """Runs the four agents for one finished draft (see the module docstring)."""

    def __init__(
        self, config: AgenticConfig, judge: Judge, prompts: AgenticPrompts | None = None
    ) -> None:
        self.config = config
        self.judge = judge
        self.prompts = prompts or AgenticPrompts.load()

    async def review(
        self,
        question: str,
        draft: str,
        targets: Sequence[ForgetTarget],
        refusal: str,
        *,
        seed: int | None = None,
    ) -> Review:
        """Review ``draft`` (the answer to ``question``) against ``targets``, best first."""
        started = time.perf_counter()
        run = _Run(self, question, draft, subjects_of(targets[: self.config.max_targets]), seed)
        try:
            async with asyncio.timeout(self.config.timeout_s):
                review = await run.decide(refusal)
        except TimeoutError:
            review = Review("refuse", "timeout", refusal)
        except Exception as exc:  # the judge failed: refuse, never pass the unchecked draft
            logger.warning("event=agentic_judge_failed error=%s", type(exc).__name__)
            review = Review("refuse", "judge_error", refusal)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        return dataclasses.replace(review, calls=run.calls, elapsed_ms=elapsed)


class _Run:
    """One review's state: the subjects, the judge calls made."""

    def __init__(
        self,
        stage: AgenticStage,
        question: str,
        draft: str,
        subjects: tuple[Subject, ...],
        seed: int | None,
    ) -> None:
        self.stage, self.config, self.prompts = stage, stage.config, stage.prompts
        self.question, self.draft, self.subjects, self.seed = question, draft, subjects, seed
        self.calls = 0

    async def ask(self, role: str, call: JudgeCall, **data: object) -> list[str]:
        messages = self.prompts.messages(role, self.subjects, **data)  # type: ignore[arg-type]
        self.calls += 1
        return await self.stage.judge.complete(messages, call)

    async def decide(self, refusal: str) -> Review:
        draft = self.draft.strip()
        if not draft or draft == refusal.strip() or not self.subjects:
            return Review("pass", "nothing_to_check")
        if addresses_reviewer(draft):
            return Review("refuse", "injection", refusal)
        leaked = await self.audit()
        if leaked is None:
            return Review("refuse", "judge_unreadable", refusal)
        if not leaked:
            return Review("pass", "clean")
        rewrites = await self.rewrite()
        if not rewrites:
            return Review("refuse", "no_rewrite", refusal, leaked)
        ratings = await asyncio.gather(*(self.rate(r) for r in rewrites))
        ranked = sorted(zip(ratings, rewrites, strict=True), key=lambda p: -p[0])
        best = ranked[: self.config.compose_top]
        if statistics.fmean(r for r, _ in best) < self.config.threshold:
            return Review("refuse", "low_rating", refusal, leaked, tuple(ratings))
        text = await self.compose([t for _, t in best])
        return Review("rewrite", "rewritten", text, leaked, tuple(ratings))

    async def audit(self) -> tuple[str, ...] | None:
        """Target ids the auditor says leaked; None when its answer cannot be read."""
        (answer,) = await self.ask(
            "audit", JudgeCall(self.config.audit_tokens), question=self.question, draft=self.draft
        )
        labels = [s.label for s in self.subjects]
        names = {s.target.name: s.label for s in self.subjects}
        found = parse_audit(answer, labels, names)
        if found is None:
            return None
        return tuple(s.target.id for s in self.subjects if s.label in found)

    async def rewrite(self) -> list[str]:
        """The distinct usable rewrites (``REFUSE`` and empty ones dropped)."""
        call = JudgeCall(
            self.config.rewrite_tokens,
            n=self.config.rewrites,
            temperature=self.config.temperature,
            seed=self.seed,
        )
        answers = await self.ask("rewrite", call, question=self.question, draft=self.draft)
        out: list[str] = []
        for answer in answers:
            text = clean_rewrite(answer)
            if text is not None and text not in out:
                out.append(text)
        return out

    async def rate(self, rewrite: str) -> int:
        """The critic's rating of ``rewrite``; an unreadable rating counts as 1 (leaks)."""
        if addresses_reviewer(rewrite):
            return 1
        (answer,) = await self.ask(
            "critic", JudgeCall(self.config.critic_tokens), question=self.question, rewrite=rewrite
        )
        rating = parse_rating(answer)
        return 1 if rating is None else rating

    async def compose(self, best: list[str]) -> str:
        """One answer from the best rewrites; the best one alone when there is one or the
        composer gives nothing usable."""
        if len(best) == 1:
            return best[0]
        (answer,) = await self.ask(
            "composer",
            JudgeCall(self.config.rewrite_tokens),
            question=self.question,
            lists={"answers": best},
        )
        composed = clean_rewrite(answer)
        if composed is None or addresses_reviewer(composed):
            return best[0]
        return composed
