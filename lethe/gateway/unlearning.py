"""The unlearning pipeline: scope → prompt techniques → decode with processors → output filter
→ audit (DESIGN.md, "One request, end to end").

One :class:`UnlearningPipeline` serves every request; per-request state lives in the
generator's locals and in the request's :class:`Trace`. A request pins the registry snapshot it
started with, so a change made mid-request never half-applies.

- No target in scope: the turn goes to the engine untouched, with no processor at all, and only
  the lexical output filter watches the stream (a few characters of hold-back).
- A target whose policy is ``refuse`` in scope: the request is answered with the refusal and the
  model is not run.
- Otherwise each technique enabled by the in-scope targets adds its part to the request's plan.

Example:
    >>> config = UnlearningConfig.load()                              # doctest: +SKIP
    >>> pipeline = UnlearningPipeline(engine, store, config, audit)  # doctest: +SKIP
    >>> async for out in pipeline.generate(turn): ...               # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from lethe.decoders import Engine, GenerationOutput, Turn, Usage
from lethe.gateway.audit_writer import AuditWriter
from lethe.gateway.unlearning_config import UnlearningConfig
from lethe.guards.agentic import EngineJudge, Judge, Review
from lethe.guards.output_filter import FilterConfig, FilterHit, FilterScope, OutputFilter
from lethe.guards.scope import ScopeClassifier, ScopeConfig, ScopeVerdict, TargetVerdict
from lethe.guards.techniques import Agentic, Plan, Technique, build_technique
from lethe.indices import AuditEvent, IndexSnapshot, TargetStore


@dataclass(slots=True)
class Trace:
    """What the pipeline did for one request: for audit events and the operator debug view."""

    version: int | None = None
    verdicts: tuple[TargetVerdict, ...] = ()
    techniques: list[str] = field(default_factory=list)
    hits: list[FilterHit] = field(default_factory=list)
    rollbacks: int = 0
    refused: bool = False
    scope_ms: float = 0.0
    reviews: list[tuple[int, Review]] = field(default_factory=list)  # (choice, review)

    def debug(self) -> dict[str, Any]:
        """A JSON-able summary (target ids and decisions, never content)."""
        return {
            "registry_version": self.version,
            "scope_ms": round(self.scope_ms, 2),
            "targets": [
                {
                    "id": v.target.id,
                    "decision": v.decision,
                    "lexical": v.lexical,
                    "semantic": None if v.semantic is None else round(v.semantic, 4),
                    "threshold": v.threshold,
                    "retain": None if v.retain is None else round(v.retain, 4),
                }
                for v in self.verdicts
            ],
            "techniques": sorted(set(self.techniques)),
            "rollbacks": self.rollbacks,
            "filter_hits": [
                {"choice": h.index, "target": h.target_id, "technique": h.technique}
                for h in self.hits
            ],
            "refused": self.refused,
            "agentic": [
                {
                    "choice": index,
                    "action": r.action,
                    "reason": r.reason,
                    "leaked": list(r.leaked),
                    "ratings": list(r.ratings),
                    "calls": r.calls,
                    "elapsed_ms": r.elapsed_ms,
                }
                for index, r in self.reviews
            ],
        }


class UnlearningPipeline:
    """The request pipeline with unlearning (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        store: TargetStore | Callable[[], TargetStore],
        config: UnlearningConfig,
        audit: AuditWriter | None = None,
        *,
        judge: Judge | None = None,
        on_events: Callable[[Sequence[AuditEvent]], None] | None = None,
    ) -> None:
        self._engine = engine
        self._judge = judge
        self._on_events = on_events
        self._store_of = store if callable(store) else (lambda: store)
        self.config = config
        self._audit_given = audit
        self._techniques: list[Technique] = [
            build_technique(spec.type, spec.params) for spec in config.techniques
        ]
        for technique in self._techniques:
            technique.bind(engine.capabilities)
            if isinstance(technique, Agentic):
                technique.attach(judge if judge is not None else EngineJudge(engine))
        self._parts: _StoreParts | None = None
        self._parts_lock = threading.Lock()

    def _parts_for(self, store: TargetStore) -> _StoreParts:
        """The classifier, filter and audit writer of ``store`` (built on first use)."""
        parts = self._parts
        if parts is not None and parts.store is store:
            return parts
        with self._parts_lock:
            if self._parts is None or self._parts.store is not store:
                config = self.config
                thresholds = {**ScopeConfig().thresholds, **config.scope.thresholds}
                audit = self._audit_given
                if audit is None and store.audit is not None:
                    audit = AuditWriter(store.audit)
                self._parts = _StoreParts(
                    store=store,
                    classifier=ScopeClassifier(store, ScopeConfig(config.scope.k, 4, thresholds)),
                    filter=OutputFilter(
                        FilterConfig(
                            semantic_margin=config.output_filter.semantic_margin,
                            question_context=config.output_filter.question_context,
                            lexical=config.output_filter.lexical,
                            finish_reason=config.finish_reason,
                        ),
                        store.embedder,
                    ),
                    audit=audit,
                )
            return self._parts

    def close(self) -> None:
        """Write the queued audit events and stop the writer (at shutdown)."""
        parts = self._parts
        if parts is not None and parts.audit is not None and parts.audit is not self._audit_given:
            parts.audit.close()
        close_judge = getattr(self._judge, "close", None)
        if close_judge is not None:
            close_judge()

    def generate(self, turn: Turn, trace: Trace | None = None) -> AsyncIterator[GenerationOutput]:
        """Stream ``turn``'s outputs through every stage (same contract as the engine's)."""
        return self._run(turn, trace if trace is not None else Trace())

    async def _run(self, turn: Turn, trace: Trace) -> AsyncIterator[GenerationOutput]:
        started = time.perf_counter()
        parts = self._parts_for(self._store_of())
        snapshot = parts.store.snapshot
        verdict, stream = await self._decide(parts, turn, snapshot)
        trace.version = snapshot.version
        trace.verdicts = verdict.verdicts
        trace.scope_ms = verdict.elapsed_ms
        if verdict.refused:
            trace.refused = True
            self._record(parts, turn, trace, started)
            for out in self._refusal(turn, verdict.refused[0].target.policy.refusal):
                yield out
            return
        plan = self._plan(turn, verdict)
        trace.techniques = plan.fired
        if stream is None:
            stream = self._engine.generate(plan.turn, plan.processors)
        drafts = stream
        if plan.review is not None:
            stream = _reviewed(drafts, plan, turn, trace)
        scope = FilterScope(
            snapshot,
            turn.tenant,
            plan.semantic_targets,
            plan.refusal,
            trace.hits.append,
            question=_question(turn),
        )
        try:
            async with aclosing(parts.filter.apply(stream, scope, turn.params.n)) as filtered:
                async for out in filtered:
                    yield out
        finally:
            await _close(stream)
            await _close(drafts)
            trace.rollbacks = sum(mask.rollbacks for mask in plan.masks)
            self._record(parts, turn, trace, started)

    async def _decide(
        self, parts: _StoreParts, turn: Turn, snapshot: IndexSnapshot
    ) -> tuple[ScopeVerdict, AsyncIterator[GenerationOutput] | None]:
        """The scope verdict, and the bare stream when it already runs and may be kept.

        With targets registered but no lexical mention in the conversation, the bare decode
        starts *while* the semantic check embeds the conversation (two threads, two cores):
        when nothing is in scope the request loses no time to the check; when something is, the
        speculative decode is cancelled before any of it was emitted.
        """
        if not len(snapshot):
            return ScopeVerdict(snapshot.version), None  # nothing to forget: no embedding
        text = turn.conversation_text()
        if snapshot.lexical_hits(text, tenant=turn.tenant):
            return await asyncio.to_thread(parts.classifier.classify, turn, snapshot), None
        bare = self._engine.generate(turn)
        first = asyncio.ensure_future(anext(bare))
        try:
            verdict = await asyncio.to_thread(parts.classifier.classify, turn, snapshot)
        except BaseException:
            await _cancel(first, bare)
            raise
        if verdict.in_scope:
            await _cancel(first, bare)
            return verdict, None
        return verdict, _resume(first, bare)

    def _plan(self, turn: Turn, verdict: ScopeVerdict) -> Plan:
        guarded = [v for v in verdict.in_scope if v.decision == "guard"]
        refusal = next(
            (v.target.policy.refusal for v in guarded if v.target.policy.refusal),
            self.config.refusal,
        )
        plan = Plan(turn=turn, refusal=refusal)
        if not guarded:
            return plan
        for technique in self._techniques:
            targets = [v for v in guarded if technique.name in self._enabled(v)]
            if targets:
                technique.apply(plan, targets)
        return plan

    def _enabled(self, verdict: TargetVerdict) -> Sequence[str]:
        policy = verdict.target.policy.techniques
        return policy or self.config.defaults_by_kind.get(verdict.target.kind, ())

    def _refusal(self, turn: Turn, text: str | None) -> list[GenerationOutput]:
        refusal = text or self.config.refusal
        return [GenerationOutput(i, refusal, Usage(0, 0), (), "stop") for i in range(turn.params.n)]

    def _record(self, parts: _StoreParts, turn: Turn, trace: Trace, started: float) -> None:
        """One audit event per enforcement: per in-scope target, plus each filter hit."""
        if trace.version is None or (parts.audit is None and self._on_events is None):
            return
        latency = round((time.perf_counter() - started) * 1000, 1)
        base = {"tenant": turn.tenant, "latency_ms": latency}
        events = []
        for v in trace.verdicts:
            if v.decision == "pass":
                continue
            action = "refuse" if trace.refused else "guard"
            detail = {
                **base,
                "techniques": sorted(set(trace.techniques)),
                "rollbacks": trace.rollbacks,
                "lexical": v.lexical,
                "semantic": v.semantic,
            }
            events.append(
                AuditEvent(turn.request_id, v.target.id, "scope", action, trace.version, detail)
            )
        for index, review in trace.reviews:
            if review.action == "pass":
                continue
            detail = {**base, "choice": index, "reason": review.reason, "calls": review.calls}
            for target_id in review.leaked or _guarded_ids(trace)[:1]:
                events.append(
                    AuditEvent(
                        turn.request_id, target_id, "agentic", review.action, trace.version, detail
                    )
                )
        for hit in trace.hits:
            detail = {**base, "choice": hit.index, "score": hit.score}
            events.append(
                AuditEvent(
                    turn.request_id, hit.target_id, hit.technique, "cut", trace.version, detail
                )
            )
        if parts.audit is not None:
            parts.audit.submit(events)
        if self._on_events is not None and events:
            self._on_events(events)


@dataclass(frozen=True, slots=True)
class _StoreParts:
    """What the pipeline builds per store: its classifier, filter and audit writer."""

    store: TargetStore
    classifier: ScopeClassifier
    filter: OutputFilter
    audit: AuditWriter | None


def _question(turn: Turn, limit: int = 400) -> str:
    """What the output answers: the last line of the last user message (at most ``limit``
    characters), or the raw prompt's last line."""
    users = [m.content for m in turn.messages if m.role == "user"]
    text = users[-1] if users else (turn.prompt if isinstance(turn.prompt, str) else "")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][-limit:] if lines else ""


def _guarded_ids(trace: Trace) -> list[str]:
    return [v.target.id for v in trace.verdicts if v.decision != "pass"]


async def _reviewed(
    drafts: AsyncIterator[GenerationOutput], plan: Plan, turn: Turn, trace: Trace
) -> AsyncIterator[GenerationOutput]:
    """The agentic stage: hold every choice back until its draft is complete and reviewed,
    then emit it as drafted (``pass``) or as the stage's answer (one output, no logprobs)."""
    assert plan.review is not None
    outputs: dict[int, list[GenerationOutput]] = {}
    usage = Usage(0, 0)
    try:
        async for out in drafts:
            outputs.setdefault(out.index, []).append(out)
            usage = out.usage
    finally:
        await _close(drafts)
    question = _question(turn)
    indices = sorted(outputs)
    reviews = await asyncio.gather(
        *(
            plan.review.review(
                question,
                "".join(o.text for o in outputs[i]),
                plan.review_targets,
                plan.refusal,
                seed=turn.params.seed,
            )
            for i in indices
        )
    )
    for index, review in zip(indices, reviews, strict=True):
        trace.reviews.append((index, review))
        if review.action == "pass":
            for out in outputs[index]:
                yield dataclasses.replace(out, usage=usage)
        else:
            yield GenerationOutput(index, review.text or plan.refusal, usage, (), "stop")


async def _resume(
    first: asyncio.Future[GenerationOutput], rest: AsyncIterator[GenerationOutput]
) -> AsyncIterator[GenerationOutput]:
    """The speculative stream: its (awaited) first output, then the rest."""
    try:
        yield await first
    except StopAsyncIteration:
        return
    try:
        async for out in rest:
            yield out
    finally:
        await _close(rest)


async def _cancel(
    first: asyncio.Future[GenerationOutput], stream: AsyncIterator[GenerationOutput]
) -> None:
    """Drop a speculative stream: cancel its pending first output, close it."""
    first.cancel()
    with contextlib.suppress(BaseException):
        await first
    await _close(stream)


async def _close(stream: AsyncIterator[GenerationOutput]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
