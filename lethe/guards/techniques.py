"""Unlearning techniques as data: a name -> factory registry, and the per-request plan they fill.

The pipeline's configuration lists techniques in run order as ``- type: ... params: ...``
(``lethe/gateway/unlearning.yaml``); each in-scope target enables a subset (its policy's
``techniques``, else the defaults for its kind). A technique only adds to the request's
:class:`Plan`: a rewritten prompt, logits-processor factories, targets for the semantic output
check. At start-up the pipeline hands each technique the engine's :class:`Capabilities`
(``bind``): the technique checks that the engine can run it, failing with a clear
:class:`ConfigurationError` otherwise, and picks how to run there (``forbidden_tokens`` masks
with rollback on the ``hf`` engine, prefix-masks on an engine with logits only, and merges
``logit_bias`` bans into the request on an upstream server).

Example:
    >>> tech = build_technique("forbidden_tokens", {"max_rollbacks": 8})
    >>> tech.bind(Capabilities(logits=True, logit_bias=True, rollback=True))
    >>> tech.strategy
    'rollback'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from lethe.decoders import Capabilities, ProcessorFactory, Turn
from lethe.decoders.contrastive import Assistants, ContrastConfig, Trained
from lethe.decoders.masking import DEFAULT_MAX_ROLLBACKS, ForbiddenTokenMask
from lethe.decoders.token_bans import (
    OPENAI_LOGIT_BIAS_LIMIT,
    PrefixMaskFactory,
    Vocabulary,
    ban_candidates,
    merge_bans,
)
from lethe.errors import ConfigurationError
from lethe.guards.agentic import AgenticConfig, AgenticStage, Judge
from lethe.guards.in_context import InContextConfig, InContextUnlearning
from lethe.guards.output_filter import GuardedTarget
from lethe.guards.redaction import mentions, redact_turn
from lethe.guards.scope import TargetVerdict
from lethe.indices import ForgetTarget


@dataclass(slots=True)
class Plan:
    """What a request will run with; techniques add to it."""

    turn: Turn
    refusal: str
    processors: list[ProcessorFactory] = field(default_factory=list)
    semantic_targets: list[GuardedTarget] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    masks: list[ForbiddenTokenMask] = field(default_factory=list)
    from_context: set[str] = field(default_factory=set)  # ids redacted out of the documents
    absent: set[str] = field(default_factory=set)  # ids only the documents name
    review: AgenticStage | None = None  # the agentic stage, when a target enables it
    review_targets: list[ForgetTarget] = field(default_factory=list)


class Technique(Protocol):
    """One unlearning technique, applied to the in-scope targets that enable it."""

    name: ClassVar[str]
    requires: ClassVar[tuple[str, ...]]

    def bind(self, capabilities: Capabilities) -> None:
        """Check, once at start-up, that the engine can run this technique (raise
        :class:`ConfigurationError` naming what is missing), and pick how to run on it."""
        ...

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Add this technique's part for ``targets`` (never empty) to ``plan``."""
        ...


class ContextRedaction:
    """Drop the sentences that mention an in-scope target from the prompt's context (system
    prompt, documents, earlier turns), keeping the question itself (``guards/redaction.py``).

    Only when the conversation itself names the target: a request that merely carries the
    target's record in the operator's documents and asks about something else keeps its prompt
    as the bare model would see it (the output guards still stop any mention); the target is
    then ``absent`` for the prompt techniques.
    """

    name: ClassVar[str] = "context_redaction"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, names: bool = True) -> None:
        self.names = names

    def bind(self, capabilities: Capabilities) -> None:
        """Runs on any engine: the prompt is all it changes."""
        capabilities.require(*self.requires)

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Redact the context; fired only when something was taken out."""
        dropped = 0
        for verdict in targets:
            strings = ForbiddenTokens.strings_of([verdict], names=self.names)
            if not mentions(plan.turn, strings, documents=False):
                if mentions(plan.turn, strings, documents=True):  # only the documents name it
                    plan.absent.add(verdict.target.id)
                continue
            redaction = redact_turn(plan.turn, strings)
            plan.turn, dropped = redaction.turn, dropped + redaction.dropped
            if redaction.from_documents:
                plan.from_context.add(verdict.target.id)
        if dropped:
            plan.fired.append(self.name)


class InContext:
    """Rewrite the prompt: instruction plus ICUL demonstrations (see ``in_context.py``)."""

    name: ClassVar[str] = "in_context"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        base = InContextConfig.load()
        overrides = {k: v for k, v in params.items() if hasattr(base, k)}
        unknown = set(params) - set(overrides)
        if unknown:
            raise ConfigurationError(f"in_context: unknown params {sorted(unknown)}")
        data = {f: getattr(base, f) for f in base.__dataclass_fields__} | overrides
        self._icu = InContextUnlearning(InContextConfig.load(data))

    def bind(self, capabilities: Capabilities) -> None:
        """Runs on any engine: the prompt is all it changes."""
        capabilities.require(*self.requires)

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Put the instruction and demonstrations in front of the conversation, for the
        targets the prompt still names (one redacted out of it entirely needs neither)."""
        present = [v.target for v in targets if v.target.id not in plan.absent]
        if not present:
            return
        plan.turn = self._icu.rewrite(
            plan.turn,
            present,
            refusal=plan.refusal,
            from_context=plan.from_context,
        )
        plan.fired.append(self.name)


Strategy = Literal["rollback", "prefix_mask", "logit_bias"]


class ForbiddenTokens:
    """Keep the targets' forbidden strings (and, by default, names and aliases) out of the
    output, as well as the engine allows (chosen once, in :meth:`bind`):

    - ``rollback`` (logits and rollback: the ``hf`` engine): text-level detection, cut back to
      the match and ban its first token there (``ForbiddenTokenMask``); exact.
    - ``prefix_mask`` (logits, no rollback: vLLM): ban, at each step, the tokens that would
      complete a forbidden string (``token_bans.PrefixMaskFactory``).
    - ``logit_bias`` (an upstream server): -100 on the first tokens of every spelling, merged
      into the request's own ``logit_bias`` (a ban wins), at most ``logit_bias_limit`` entries.

    The last two need the engine's ``vocabulary`` (a local tokenizer).
    """

    name: ClassVar[str] = "forbidden_tokens"
    requires: ClassVar[tuple[str, ...]] = ()  # decided in bind(): one of three strategies

    def __init__(
        self,
        max_rollbacks: int = DEFAULT_MAX_ROLLBACKS,
        names: bool = True,
        logit_bias_limit: int = OPENAI_LOGIT_BIAS_LIMIT,
    ) -> None:
        self.max_rollbacks = max_rollbacks
        self.names = names
        self.logit_bias_limit = logit_bias_limit
        self.strategy: Strategy = "rollback"
        self._vocabulary: Vocabulary | None = None

    def bind(self, capabilities: Capabilities) -> None:
        """Pick the strongest strategy the engine supports; refuse an engine with none."""
        if capabilities.logits and capabilities.rollback:
            self.strategy, self._vocabulary = "rollback", None
            return
        vocabulary = capabilities.vocabulary
        if vocabulary is not None and (capabilities.logits or capabilities.logit_bias):
            self.strategy = "prefix_mask" if capabilities.logits else "logit_bias"
            self._vocabulary = vocabulary
            return
        offered = [n for n in ("logits", "rollback", "logit_bias") if getattr(capabilities, n)]
        hint = ""
        if vocabulary is None:
            hint = " (give the engine the served model's tokenizer)"
        else:
            offered.append("vocabulary")
        raise ConfigurationError(
            "technique 'forbidden_tokens' needs an engine with logits and rollback, or one with "
            "a vocabulary (a local tokenizer) and logits or logit_bias; this engine offers "
            f"{', '.join(offered) or 'none of these'}{hint}"
        )

    def strings(self, targets: Sequence[TargetVerdict]) -> list[str]:
        """Every string to keep out of the output for these targets."""
        return self.strings_of(targets, names=self.names)

    @staticmethod
    def strings_of(targets: Sequence[TargetVerdict], *, names: bool) -> list[str]:
        """The targets' forbidden strings, and their names and aliases when ``names``."""
        out: list[str] = []
        for v in targets:
            out += v.target.forbidden
            if names:
                out += [v.target.name, *v.target.aliases]
        return out

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Add this request's enforcement, by the strategy chosen at start-up."""
        strings = self.strings(targets)
        if not strings:
            return
        if self.strategy == "rollback":
            self._add_masks(plan, strings)
        elif self.strategy == "prefix_mask":
            assert self._vocabulary is not None
            plan.processors.append(PrefixMaskFactory(tuple(strings), self._vocabulary))
        else:
            self._merge_bias(plan, strings)
        plan.fired.append(self.name)

    def _add_masks(self, plan: Plan, strings: list[str]) -> None:
        """One rollback mask per choice (masks keep per-choice bans)."""
        refusal = plan.refusal

        def factory() -> ForbiddenTokenMask:
            mask = ForbiddenTokenMask(strings, refusal=refusal, max_rollbacks=self.max_rollbacks)
            plan.masks.append(mask)
            return mask

        plan.processors.append(factory)

    def _merge_bias(self, plan: Plan, strings: list[str]) -> None:
        assert self._vocabulary is not None
        params = plan.turn.params
        bans = ban_candidates(strings, self._vocabulary)
        bias = merge_bans(params.logit_bias, bans, limit=self.logit_bias_limit)
        plan.turn = dataclasses.replace(
            plan.turn, params=dataclasses.replace(params, logit_bias=bias)
        )


class OutputFilterSemantic:
    """Check completed output sentences against these targets' content (the lexical check
    runs on every request regardless)."""

    name: ClassVar[str] = "output_filter"
    requires: ClassVar[tuple[str, ...]] = ()

    def bind(self, capabilities: Capabilities) -> None:
        """Runs on any engine: it reads the output stream."""
        capabilities.require(*self.requires)

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Register the targets, with their scope thresholds, for the semantic check."""
        plan.semantic_targets += [GuardedTarget(v.target.id, v.threshold) for v in targets]
        plan.fired.append(self.name)


class Contrastive:
    """Steer decoding away from an assistant that knows the targets (UCD/ULD, training-free:
    the served model, or its first ``layers`` layers, conditioned on the targets' forget
    content; ``decoders/contrastive.py``). With ``assistant: trained``, targets the current
    trained assistant covers (``lethe assistants train``) are contrasted against it by ULD
    (``weight``, ``top_ratio``); targets added or edited since are still covered live. Needs
    per-step logits and assistant models: the ``hf`` engine."""

    name: ClassVar[str] = "contrastive"
    requires: ClassVar[tuple[str, ...]] = ("logits", "assistant")

    def __init__(
        self,
        rule: str = "ucd",
        alpha: float = 2.0,
        plausibility: float = 0.1,
        weight: float = 0.8,
        top_ratio: float = 0.01,
        layers: int | None = None,
        facts_per_target: int = 8,
        assistant: str = "live",
    ) -> None:
        if assistant not in ("live", "trained"):
            raise ConfigurationError(f"contrastive: assistant is live or trained: {assistant!r}")
        try:
            self.config = ContrastConfig(
                rule,  # type: ignore[arg-type]
                alpha=alpha,
                weight=weight,
                top_ratio=top_ratio,
                plausibility=plausibility,
            )
            self.trained_config = ContrastConfig(
                "uld", weight=weight, top_ratio=top_ratio, plausibility=plausibility
            )
        except ValueError as exc:
            raise ConfigurationError(f"contrastive: {exc}") from None
        self.assistant = assistant
        self.layers = layers
        self.facts_per_target = facts_per_target
        self._assistants: Assistants | None = None

    def bind(self, capabilities: Capabilities) -> None:
        """Refuse an engine without per-step logits or assistant models (e.g. an upstream)."""
        if not (capabilities.logits and capabilities.assistant and capabilities.assistants):
            raise ConfigurationError(
                "technique 'contrastive' needs an engine with per-step logits and assistant "
                "models (the hf engine); leave it out of unlearning_config for this engine"
            )
        self._assistants = capabilities.assistants

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """One contrastive processor per choice, its assistant conditioned on the targets the
        conversation itself names. A target only the operator's documents name is left out (as
        by ``in_context``): contrasting against its record suppresses what it shares with the
        records the question is about (a directory's common phone prefix, measured)."""
        assert self._assistants is not None, "bind() first"
        present = [v.target for v in targets if v.target.id not in plan.absent]
        if not present:
            return
        trained = self._assistants.trained() if self.assistant == "trained" else None
        if trained is not None:
            by_trained = [t for t in present if self._trained_covers(trained, t, plan)]
            if by_trained:
                plan.processors.append(trained.contrastive(self.trained_config))
                present = [t for t in present if t not in by_trained]
        if present:
            context = forget_context(present, self.facts_per_target)
            plan.processors.append(
                self._assistants.contrastive(context, self.config, layers=self.layers)
            )
        plan.fired.append(self.name)

    @staticmethod
    def _trained_covers(trained: Trained, target: ForgetTarget, plan: Plan) -> bool:
        """Whether the trained assistant takes ``target`` here. Not when the operator's
        documents held its record (``context_redaction`` took it out): the trained assistant
        also suppresses what the record shares with the records left in (a directory's common
        phone prefix, measured: retain accuracy 0.875), while the live one, conditioned on
        exactly this record, contrasts only what differs."""
        return trained.covers(target) and target.id not in plan.from_context


def forget_context(targets: Sequence[ForgetTarget], facts: int) -> str:
    """What the assistant is told: each target's names and up to ``facts`` of its content."""
    lines = []
    for t in targets:
        names = ", also known as ".join([t.name, *t.aliases[:3]])
        lines.append(f"{names}.")
        for sample in t.content[:facts]:
            if isinstance(sample, str):
                lines.append(sample)
            else:
                lines.append(f"{sample.question} {sample.answer}")
    return "\n".join(lines) + "\n"


class Agentic:
    """Review the finished draft with judge agents (audit, rewrite, critic, composer; see
    ``agentic/stage.py``). The pipeline attaches the stage (:meth:`attach`) with its judge:
    the served engine unless a separate judge is configured."""

    name: ClassVar[str] = "agentic"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        try:
            self.config = AgenticConfig(**params)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"agentic: {exc}") from None
        self.stage: AgenticStage | None = None

    def bind(self, capabilities: Capabilities) -> None:
        """Runs on any engine: it reads the draft and asks a judge."""
        capabilities.require(*self.requires)

    def attach(self, judge: Judge) -> None:
        """Give the technique the judge its agents ask."""
        self.stage = AgenticStage(self.config, judge)

    def apply(self, plan: Plan, targets: Sequence[TargetVerdict]) -> None:
        """Have the draft reviewed against these targets (best-scoring first)."""
        if self.stage is None:
            raise ConfigurationError("agentic: no judge attached")
        plan.review = self.stage
        plan.review_targets += [v.target for v in targets]
        plan.fired.append(self.name)


TECHNIQUES: Mapping[str, Callable[..., Technique]] = {
    ContextRedaction.name: ContextRedaction,
    InContext.name: InContext,
    ForbiddenTokens.name: ForbiddenTokens,
    OutputFilterSemantic.name: OutputFilterSemantic,
    Contrastive.name: Contrastive,
    Agentic.name: Agentic,
}


def build_technique(name: str, params: Mapping[str, Any] | None = None) -> Technique:
    """The technique registered as ``name``, built with ``params``."""
    factory = TECHNIQUES.get(name)
    if factory is None:
        known = ", ".join(sorted(TECHNIQUES))
        raise ConfigurationError(f"unknown technique {name!r} (known: {known})")
    try:
        return factory(**dict(params or {}))
    except TypeError as exc:
        raise ConfigurationError(f"technique {name!r}: {exc}") from None
